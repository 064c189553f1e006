"""Grant keys: loaded from TELERING_GRANT_KEYS or a key file, created by `telering-keys new`."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat
from pathlib import Path

from protocol.settings import Settings

log = logging.getLogger(__name__)

MIN_KEY_BYTES = 32  # below this an HMAC key can be guessed; `new_key` makes 43 characters


class KeysMissing(RuntimeError):
    """No usable key: the message names the variables and the command that makes one."""


class KeysInvalid(KeysMissing):
    """Keys were found but are not fit to sign with (too short); the message says which and why."""


class KeysExposed(KeysMissing):
    """The key file is open to group or others: whoever reads it mints grants. The message names
    the file and the `chmod` that fixes it."""

    def __init__(self, path: Path, mode: int) -> None:
        super().__init__(
            f"TELERING_KEYS_FILE={str(path)!r} has mode {mode:o}, open to group or others (anyone who reads "
            f"it can mint grants); make it the owner's only: `chmod 600 {path}`"
        )


def load_keys(settings: Settings) -> list[str]:
    """All known keys, oldest first; the last one signs."""
    if settings.telering_grant_keys is not None:
        keys = [k.strip() for k in settings.telering_grant_keys.get_secret_value().split(",") if k.strip()]
        if not keys:
            raise KeysMissing("TELERING_GRANT_KEYS is set but holds no key")
        check_keys(keys, "TELERING_GRANT_KEYS")
        return keys
    path = settings.telering_keys_file
    if not path.exists():
        raise KeysMissing(
            f"no grant key: TELERING_KEYS_FILE={str(path)!r} does not exist and TELERING_GRANT_KEYS "
            f"is unset; create one with `telering-keys new --file {path}`"
        )
    check_private(path)
    keys = read_key_file(path)
    if not keys:
        raise KeysMissing(f"TELERING_KEYS_FILE={str(path)!r} holds no key; run `telering-keys new --file {path}`")
    check_keys(keys, f"TELERING_KEYS_FILE={str(path)!r}")
    return keys


def check_keys(keys: list[str], source: str) -> None:
    """Refuse keys too short to sign with (KeysInvalid names the source and the key's position)."""
    for i, key in enumerate(keys):
        if len(key.encode()) < MIN_KEY_BYTES:
            raise KeysInvalid(
                f"{source}: key {i} (fingerprint {fingerprint(key)}) is {len(key.encode())} bytes; keys must be at "
                f"least {MIN_KEY_BYTES} bytes: make one with `telering-keys new`"
            )


def check_private(path: Path) -> None:
    """Raise KeysExposed if the key file's mode lets its group or others in."""
    mode = exposed_mode(path)
    if mode is not None:
        raise KeysExposed(path, mode)


def exposed_mode(path: Path) -> int | None:
    """The permission bits of a file open to its group or others (any of rwx), else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & (stat.S_IRWXG | stat.S_IRWXO) else None


def read_key_file(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#")]


def new_key() -> str:
    return secrets.token_urlsafe(32)


def add_key(path: Path, key: str | None = None) -> str:
    """Append a new key (it becomes the signing key); the file is created with mode 0600."""
    key = key or new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(key + "\n")
    os.chmod(path, 0o600)
    return key


def retire_oldest(path: Path) -> str:
    """Drop the oldest key, refusing to remove the last one; returns the retired key."""
    keys = read_key_file(path)
    if len(keys) < 2:
        raise ValueError(f"{path} holds {len(keys)} key(s); add a new one before retiring the oldest")
    _write_keys(path, keys[1:])
    return keys[0]


def _write_keys(path: Path, keys: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(k + "\n" for k in keys))
    os.replace(tmp, path)


def fingerprint(key: str) -> str:
    """A short, non-secret name for a key, fit for logs."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]
