"""Reader tokens: who may read the web node's API and live socket (`telering-keys reader …`).

A reader token is 32 random bytes (url-safe base64) behind the prefix `tlr_`, shown once when it
is made. TELERING_READERS_FILE (mode 0600) keeps one line per reader, `NAME SHA256-HEX`: only
the token's SHA-256, which is enough for a secret of that much entropy (nothing to brute-force)
and means the file leaks no token. Revoking a reader deletes its line.

The web node follows the file like the grant keyring follows the key file: it looks at it at
most once a second (its size, mtime and inode), and at once when an unknown token arrives, so a
new reader works immediately and a revoked one stops within a second, without a restart.
A file that disappears or cannot be read admits nobody until it is back.
A grant never verifies here (its hash is in no file), and a reader token is no grant (it is not
signed by a grant key).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "tlr_"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
CHECK_INTERVAL_S = 1.0
_NAME = re.compile(NAME_PATTERN)
_HEADER = "# telering reader tokens: NAME SHA256(token), one a line; edit with `telering-keys reader`\n"


class ReadersError(ValueError):
    """A reader name that is malformed, taken or unknown, or a readers file that cannot be read."""


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_readers(path: Path) -> dict[str, str]:
    """`{name: token hash}` from the file (ReadersError on a malformed line, OSError if unreadable)."""
    readers: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, digest = line.partition(" ")
        digest = digest.strip()
        if not _NAME.match(name) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ReadersError(f"{path}:{number}: expected `NAME SHA256-HEX`")
        readers[name] = digest
    return readers


def add_reader(path: Path, name: str) -> str:
    """Make a reader and return its token (the only time it exists outside the caller)."""
    check_name(name)
    readers = read_readers(path) if Path(path).exists() else {}
    if name in readers:
        raise ReadersError(f"reader {name!r} exists in {path}; revoke it first to make a new token")
    token = new_token()
    readers[name] = token_hash(token)
    _write(path, readers)
    return token


def revoke_reader(path: Path, name: str) -> None:
    readers = read_readers(path) if Path(path).exists() else {}
    if name not in readers:
        raise ReadersError(f"no reader {name!r} in {path}")
    del readers[name]
    _write(path, readers)


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ReadersError(f"reader name {name!r} must match {NAME_PATTERN}")


class Readers:
    """The readers of TELERING_READERS_FILE, followed as the file changes; `identify` a token."""

    def __init__(
        self, path: Path, *, check_interval_s: float = CHECK_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = Path(path)
        self._interval = check_interval_s
        self._clock = clock
        self._stamp = _stamp(self.path)
        self._by_hash = _invert(read_readers(self.path))  # OSError / ReadersError: a start-up error
        self._checked = clock()

    def __len__(self) -> int:
        return len(self._by_hash)

    def identify(self, token: str) -> str | None:
        """The name of the reader holding `token`, or None (unknown, revoked, or not a reader token)."""
        self._refresh(force=False)
        digest = token_hash(token)
        name = self._lookup(digest)
        if name is None and self._refresh(force=True):
            name = self._lookup(digest)
        return name

    def _lookup(self, digest: str) -> str | None:
        return self._by_hash.get(digest)  # a digest of a 256-bit secret: nothing to learn from timing

    def _refresh(self, *, force: bool) -> bool:
        """Reload the file if it changed (at most once a CHECK_INTERVAL_S unless forced); True if reloaded."""
        now = self._clock()
        if not force and now - self._checked < self._interval:
            return False
        self._checked = now
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            readers = read_readers(self.path)
        except (OSError, ReadersError) as exc:
            # fail closed: deleting the file (or breaking it) must revoke, not freeze, the readers;
            # logged once, as the file's stamp changes only when it does
            log.error(
                "cannot read TELERING_READERS_FILE=%s (%s): no reader token is valid until it can be read again",
                self.path,
                exc,
            )
            self._by_hash = {}
            return False
        self._by_hash = _invert(readers)
        log.info("reader tokens reloaded from %s: %d reader(s)", self.path, len(readers))
        return True


def _invert(readers: dict[str, str]) -> dict[str, str]:
    return {digest: name for name, digest in readers.items()}


def _write(path: Path, readers: dict[str, str]) -> None:
    """Replace the file atomically (mode 0600), so the web node never reads half of it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_HEADER + "".join(f"{name} {digest}\n" for name, digest in sorted(readers.items())))
    os.replace(tmp, path)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
