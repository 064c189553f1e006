"""The grant keys the web node verifies with, following the key file as it changes.

Keys rotate without a restart (DESIGN.md, Keys): the operator appends a new key to
TELERING_KEYS_FILE (the coordinator signs with it from its next grant) and later drops the
old one. The keyring looks at the file at most once a second, and at once when a grant fails
to verify, so a grant signed with a key added a moment ago is never refused as unknown. A file
that is briefly missing or empty keeps the keys already loaded: the web node never has none.
Keys given explicitly (tests) or by TELERING_GRANT_KEYS are fixed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from protocol.grants import Grant, GrantCodec, GrantInvalid
from protocol.keys import fingerprint, load_keys, read_key_file
from protocol.settings import Settings

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0
_Stamp = tuple[int, int, int] | None


class Keyring:
    def __init__(
        self,
        keys: Sequence[str],
        path: Path | None = None,
        *,
        check_interval_s: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = list(keys)
        self._codec = GrantCodec(self.keys)
        self._path = path
        self._interval = check_interval_s
        self._clock = clock
        self._stamp = _stamp(path) if path is not None else None
        self._checked = clock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """The configured keys (KeysMissing if there are none), following the key file if they come from one."""
        keys = load_keys(settings)
        follows_file = settings.telering_grant_keys is None
        return cls(keys, settings.telering_keys_file if follows_file else None)

    def verify(self, token: str) -> Grant:
        """GrantCodec.verify with the current keys; a signature no known key verifies gets one
        look at the key file first (it may have just gained the signing key)."""
        self._refresh(force=False)
        try:
            return self._codec.verify(token)
        except GrantInvalid:
            if not self._refresh(force=True):
                raise
        return self._codec.verify(token)

    def _refresh(self, *, force: bool) -> bool:
        """Reload the key file if it changed; True if the keys did."""
        if self._path is None:
            return False
        now = self._clock()
        if not force and now - self._checked < self._interval:
            return False
        self._checked = now
        stamp = _stamp(self._path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            keys = read_key_file(self._path)
        except OSError as exc:
            log.error(
                "cannot read TELERING_KEYS_FILE=%s (%s); keeping the %d key(s) loaded", self._path, exc, len(self.keys)
            )
            return False
        if not keys:
            log.error("TELERING_KEYS_FILE=%s holds no key; keeping the %d key(s) loaded", self._path, len(self.keys))
            return False
        if keys == self.keys:
            return False
        self.keys, self._codec = keys, GrantCodec(keys)
        log.info("grant keys reloaded from %s: %s (newest last)", self._path, ", ".join(fingerprint(k) for k in keys))
        return True


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
