"""Grant keys: env var over file, file mode 0600, rotation, and clear errors when missing."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from protocol.keys import (
    MIN_KEY_BYTES,
    KeysExposed,
    KeysInvalid,
    KeysMissing,
    add_key,
    fingerprint,
    load_keys,
    new_key,
    read_key_file,
    retire_oldest,
)
from protocol.settings import Settings


def settings(keys_file: Path, grant_keys: str | None = None) -> Settings:
    return Settings(telering_keys_file=keys_file, telering_grant_keys=grant_keys)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def long(name: str) -> str:
    """A key of the minimum length or more, recognisable by name."""
    return name.ljust(MIN_KEY_BYTES, "0")


def test_keys_load_from_the_file_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "telering.keys"
    path.write_text(f"# comment\n{long('old')}\n\n{long('new')}\n")
    path.chmod(0o600)
    assert load_keys(settings(path)) == [long("old"), long("new")]


def test_the_env_var_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "telering.keys"
    add_key(path, long("from-file"))
    monkeypatch.setenv("TELERING_KEYS_FILE", str(path))
    monkeypatch.setenv("TELERING_GRANT_KEYS", f" {long('env-old')} , {long('env-new')} ,")
    assert load_keys(Settings()) == [long("env-old"), long("env-new")]


def test_the_file_is_used_when_the_env_var_is_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "telering.keys"
    add_key(path, long("from-file"))
    monkeypatch.delenv("TELERING_GRANT_KEYS", raising=False)
    monkeypatch.setenv("TELERING_KEYS_FILE", str(path))
    assert load_keys(Settings()) == [long("from-file")]


def test_an_empty_env_var_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeysMissing, match="TELERING_GRANT_KEYS"):
        load_keys(settings(tmp_path / "absent.keys", grant_keys=" , "))


def test_a_missing_file_names_the_variable_and_the_command(tmp_path: Path) -> None:
    path = tmp_path / "absent.keys"
    with pytest.raises(KeysMissing) as info:
        load_keys(settings(path))
    message = str(info.value)
    assert "TELERING_KEYS_FILE" in message and "TELERING_GRANT_KEYS" in message
    assert "telering-keys new" in message and str(path) in message


def test_an_empty_file_names_the_variable_and_the_command(tmp_path: Path) -> None:
    path = tmp_path / "empty.keys"
    path.write_text("\n# nothing here\n")
    path.chmod(0o600)
    with pytest.raises(KeysMissing) as info:
        load_keys(settings(path))
    assert "TELERING_KEYS_FILE" in str(info.value) and "telering-keys new" in str(info.value)


def test_add_key_creates_the_file_with_mode_0600_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "telering.keys"
    first = add_key(path)
    assert mode(path) == 0o600
    second = add_key(path, "chosen")
    assert second == "chosen"
    assert read_key_file(path) == [first, "chosen"]


def test_add_key_tightens_an_existing_loose_file(tmp_path: Path) -> None:
    path = tmp_path / "telering.keys"
    path.write_text("old\n")
    path.chmod(0o644)
    add_key(path)
    assert mode(path) == 0o600


def test_new_keys_are_random_and_long() -> None:
    keys = {new_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(k) >= 40 for k in keys)


def test_retire_oldest_drops_the_first_line_and_keeps_0600(tmp_path: Path) -> None:
    path = tmp_path / "telering.keys"
    for key in ("k1", "k2", "k3"):
        add_key(path, key)
    assert retire_oldest(path) == "k1"
    assert read_key_file(path) == ["k2", "k3"]
    assert mode(path) == 0o600
    assert not path.with_name(path.name + ".tmp").exists()


def test_retire_oldest_refuses_the_last_key(tmp_path: Path) -> None:
    path = tmp_path / "telering.keys"
    add_key(path, "only")
    with pytest.raises(ValueError, match="1 key"):
        retire_oldest(path)
    assert read_key_file(path) == ["only"]


def test_fingerprint_is_short_stable_and_not_the_key() -> None:
    key = new_key()
    assert fingerprint(key) == hashlib.sha256(key.encode()).hexdigest()[:12]  # the same in every process
    assert len(fingerprint(key)) == 12 and fingerprint(key) not in key
    assert fingerprint("a") != fingerprint("b")


@pytest.mark.parametrize("source", ["file", "env"])
def test_keys_shorter_than_32_bytes_are_refused_naming_the_source(tmp_path: Path, source: str) -> None:
    path = tmp_path / "telering.keys"
    add_key(path, long("fine"))
    add_key(path, "short-key")
    chosen = settings(path) if source == "file" else settings(path, grant_keys=f"{long('fine')},short-key")
    with pytest.raises(KeysInvalid) as info:
        load_keys(chosen)
    message = str(info.value)
    assert ("TELERING_KEYS_FILE" if source == "file" else "TELERING_GRANT_KEYS") in message
    assert "key 1" in message and "32 bytes" in message and "short-key" not in message  # never the key itself


@pytest.mark.parametrize("wide", [0o640, 0o604, 0o620, 0o601])
def test_a_key_file_open_to_group_or_others_is_refused_naming_the_chmod(tmp_path: Path, wide: int) -> None:
    path = tmp_path / "telering.keys"
    add_key(path)
    assert load_keys(settings(path))
    path.chmod(wide)
    with pytest.raises(KeysExposed) as info:
        load_keys(settings(path))
    assert isinstance(info.value, KeysMissing)  # every part's start-up turns it into exit 2
    assert str(path) in str(info.value) and f"`chmod 600 {path}`" in str(info.value) and f"{wide:o}" in str(info.value)
