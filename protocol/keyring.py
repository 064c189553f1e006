"""The grant keys in use, following the key file as it changes: one keyring for every part.

The web node verifies grants with it, the coordinator signs them, and every worker signs and
verifies the token topic's messages (protocol/token_messages.py). Keys rotate without a restart
(DESIGN.md, Keys): the operator appends a new key to TELERING_KEYS_FILE (it signs from the next
use on) and later drops the old one. The keyring looks at the file at most once a second, and
at once when a signature fails to verify, so something signed with a key added a moment ago is
never refused as unknown. A file that is unreadable, empty, half-written or holds a key too short
to sign with keeps the keys already loaded (logged once per change of the file): a part that
had keys never has none. Keys given explicitly (tests) or by TELERING_GRANT_KEYS are fixed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from protocol.grants import Grant, GrantCodec, GrantInvalid
from protocol.keys import KeysExposed, KeysInvalid, check_keys, check_private, fingerprint, load_keys, read_key_file
from protocol.settings import Settings
from protocol.token_messages import TokenSigner
from protocol.watched_file import WatchedFile

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0


class Keyring:
    def __init__(
        self,
        keys: Sequence[str],
        path: Path | None = None,
        *,
        check_interval_s: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._use(list(keys))
        self._path = path
        self._file = WatchedFile(path, interval_s=check_interval_s, clock=clock) if path is not None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """The configured keys (KeysMissing if there are none), following the key file if they come from one."""
        keys = load_keys(settings)
        follows_file = settings.telering_grant_keys is None
        return cls(keys, settings.telering_keys_file if follows_file else None)

    @property
    def keys(self) -> list[str]:
        return list(self._keys)

    def verify(self, token: str, *, max_lifetime_s: float | None = None, app: str | None = None) -> Grant:
        """GrantCodec.verify with the current keys; a signature no known key verifies gets one
        look at the key file first (it may have just gained the signing key)."""
        self.refresh()
        try:
            return self._codec.verify(token, max_lifetime_s=max_lifetime_s, app=app)
        except GrantInvalid:
            if not self.refresh(force=True):
                raise
        return self._codec.verify(token, max_lifetime_s=max_lifetime_s, app=app)

    def sign(self, grant: Grant) -> str:
        """Sign a grant with the newest key (the coordinator)."""
        self.refresh()
        return self._codec.sign(grant)

    def sign_message(self, value: bytes) -> bytes:
        """The signature of a token-topic value, made with the newest key."""
        self.refresh()
        return self._signer.sign(value)

    def verify_message(self, value: bytes, signature: bytes | None) -> bool:
        """Whether some known key made `signature` for `value` (after one look at the file if not)."""
        self.refresh()
        if self._signer.verify(value, signature):
            return True
        return self.refresh(force=True) and self._signer.verify(value, signature)

    def refresh(self, *, force: bool = False) -> bool:
        """Reload the key file if it changed (at most once per interval unless forced); True if the keys did."""
        if self._file is None or not self._file.changed(force=force):
            return False
        keys = self._read_file()
        if keys is None or keys == self._keys:
            return False
        self._use(keys)
        log.info("grant keys reloaded from %s: %s (newest last)", self._path, ", ".join(fingerprint(k) for k in keys))
        return True

    def _read_file(self) -> list[str] | None:
        assert self._path is not None
        keeping = f"keeping the {len(self._keys)} key(s) loaded"
        try:
            check_private(self._path)  # a file others can read is not taken up, as at start-up
            keys = read_key_file(self._path)
        except KeysExposed as exc:
            log.error("%s; %s", exc, keeping)
            return None
        except OSError as exc:
            log.error("cannot read TELERING_KEYS_FILE=%s (%s); %s", self._path, exc, keeping)
            return None
        if not keys:
            log.error("TELERING_KEYS_FILE=%s holds no key; %s", self._path, keeping)
            return None
        try:
            check_keys(keys, f"TELERING_KEYS_FILE={self._path}")
        except KeysInvalid as exc:
            log.error("%s; %s", exc, keeping)
            return None
        return keys

    def _use(self, keys: list[str]) -> None:
        self._keys = keys
        self._codec = GrantCodec(keys)
        self._signer = TokenSigner(keys)
