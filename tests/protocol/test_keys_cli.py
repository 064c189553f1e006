"""`telering-keys`: new / ensure / list / retire on a key file in tmp_path."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from protocol.keys import fingerprint, read_key_file
from protocol.keys_cli import main


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "telering.keys"


def cli(key_file: Path, *args: str) -> int:
    return main(["--file", str(key_file), *args])


def test_new_creates_a_0600_file_with_one_key(key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(key_file, "new") == 0
    keys = read_key_file(key_file)
    assert len(keys) == 1
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    out = capsys.readouterr().out
    assert fingerprint(keys[0]) in out and keys[0] not in out


def test_new_appends_the_signing_key_last(key_file: Path) -> None:
    cli(key_file, "new")
    first = read_key_file(key_file)
    cli(key_file, "new")
    keys = read_key_file(key_file)
    assert len(keys) == 2 and keys[0] == first[0]


def test_ensure_creates_once_then_leaves_the_file_alone(key_file: Path) -> None:
    assert cli(key_file, "ensure") == 0
    keys = read_key_file(key_file)
    assert cli(key_file, "ensure") == 0
    assert read_key_file(key_file) == keys and len(keys) == 1


def test_list_prints_fingerprints_never_keys(key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(key_file, "new")
    cli(key_file, "new")
    capsys.readouterr()
    assert cli(key_file, "list") == 0
    captured = capsys.readouterr()
    keys = read_key_file(key_file)
    assert captured.out.splitlines() == [f"0 {fingerprint(keys[0])}", f"1 {fingerprint(keys[1])}"]
    for key in keys:
        assert key not in captured.out and key not in captured.err


def test_list_of_a_missing_file_fails_and_says_how_to_make_one(
    key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(key_file, "list") == 1
    assert "telering-keys new" in capsys.readouterr().err


def test_retire_drops_the_oldest(key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(key_file, "new")
    cli(key_file, "new")
    old, new = read_key_file(key_file)
    capsys.readouterr()
    assert cli(key_file, "retire") == 0
    assert read_key_file(key_file) == [new]
    out = capsys.readouterr().out
    assert fingerprint(old) in out and old not in out


def test_retire_refuses_the_last_key(key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(key_file, "new")
    keys = read_key_file(key_file)
    assert cli(key_file, "retire") == 1
    assert read_key_file(key_file) == keys
    assert "telering-keys:" in capsys.readouterr().err


def test_retire_of_a_missing_file_fails_cleanly(key_file: Path) -> None:
    assert cli(key_file, "retire") == 1


def test_the_default_file_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "from-env.keys"
    monkeypatch.setenv("TELERING_KEYS_FILE", str(path))
    assert main(["new"]) == 0
    assert len(read_key_file(path)) == 1


def test_a_command_is_required(key_file: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--file", str(key_file)])
    assert info.value.code == 2
