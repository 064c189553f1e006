"""Grant keys: loaded from TELERING_GRANT_KEYS or a key file, created by `telering-keys new`."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from protocol.settings import Settings


class KeysMissing(RuntimeError):
    """No usable key: the message names the variables and the command that makes one."""


def load_keys(settings: Settings) -> list[str]:
    """All known keys, oldest first; the last one signs."""
    if settings.telering_grant_keys is not None:
        keys = [k.strip() for k in settings.telering_grant_keys.get_secret_value().split(",") if k.strip()]
        if not keys:
            raise KeysMissing("TELERING_GRANT_KEYS is set but holds no key")
        return keys
    path = settings.telering_keys_file
    if not path.exists():
        raise KeysMissing(
            f"no grant key: TELERING_KEYS_FILE={str(path)!r} does not exist and TELERING_GRANT_KEYS "
            f"is unset; create one with `telering-keys new --file {path}`"
        )
    keys = read_key_file(path)
    if not keys:
        raise KeysMissing(f"TELERING_KEYS_FILE={str(path)!r} holds no key; run `telering-keys new --file {path}`")
    return keys


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
