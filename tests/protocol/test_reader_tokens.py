"""Reader tokens (protocol.reader_tokens) and `telering-keys reader new|list|revoke`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from protocol import reader_tokens
from protocol.keys_cli import main


def test_tokens_are_stored_hashed_in_an_owner_only_file(tmp_path: Path):
    path = tmp_path / "telering.readers"
    token = reader_tokens.add_reader(path, "alice")
    assert token.startswith(reader_tokens.PREFIX) and len(token) > 40
    text = path.read_text()
    assert token not in text and reader_tokens.token_hash(token) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert reader_tokens.read_readers(path) == {"alice": reader_tokens.token_hash(token)}
    assert reader_tokens.Readers(path).identify(token) == "alice"
    assert reader_tokens.Readers(path).identify(token + "x") is None


def test_names_are_checked_and_unique(tmp_path: Path):
    path = tmp_path / "r"
    reader_tokens.add_reader(path, "bob")
    with pytest.raises(reader_tokens.ReadersError, match="exists"):
        reader_tokens.add_reader(path, "bob")
    with pytest.raises(reader_tokens.ReadersError, match="must match"):
        reader_tokens.add_reader(path, "no spaces")
    with pytest.raises(reader_tokens.ReadersError, match="no reader"):
        reader_tokens.revoke_reader(path, "carol")
    path.write_text("bob not-a-hash\n")
    with pytest.raises(reader_tokens.ReadersError, match=r":1: expected"):
        reader_tokens.read_readers(path)


def test_follows_the_file_at_most_once_a_second_and_at_once_for_an_unknown_token(tmp_path: Path):
    path = tmp_path / "r"
    alice = reader_tokens.add_reader(path, "alice")
    now = [0.0]
    followed = reader_tokens.Readers(path, clock=lambda: now[0])
    bob = reader_tokens.add_reader(path, "bob")
    assert followed.identify(bob) == "bob"  # unknown: one forced look at the file
    reader_tokens.revoke_reader(path, "alice")
    now[0] = 0.5
    assert followed.identify(alice) == "alice"  # known tokens cost no look at the file for a second …
    now[0] = 1.6
    assert followed.identify(alice) is None  # … after which a revocation holds
    path.write_text("garbage\n")
    now[0] = 5.0
    assert followed.identify(bob) is None and len(followed) == 0  # a broken file admits nobody …
    reader_tokens._write(path, {"bob": reader_tokens.token_hash(bob)})
    assert followed.identify(bob) == "bob"  # … until it is good again


def test_a_readers_file_that_disappears_admits_nobody_until_it_is_back(tmp_path: Path, caplog):
    path = tmp_path / "r"
    alice = reader_tokens.add_reader(path, "alice")
    now = [0.0]
    followed = reader_tokens.Readers(path, clock=lambda: now[0])
    kept = path.read_text()
    path.unlink()
    with caplog.at_level("ERROR", logger="protocol.reader_tokens"):
        for second in (1.5, 3.0, 4.5):
            now[0] = second
            assert followed.identify(alice) is None and len(followed) == 0
    assert caplog.text.count("no reader token is valid") == 1  # once, not per request
    path.write_text(kept)
    now[0] = 6.0
    assert followed.identify(alice) == "alice"


def test_cli_new_prints_the_token_last_list_shows_names_revoke_removes(tmp_path: Path, capsys):
    path = tmp_path / "r"
    assert main(["reader", "new", "--name", "alice", "--file", str(path)]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    assert reader_tokens.Readers(path).identify(token) == "alice"
    assert main(["reader", "new", "--name", "bob", "--file", str(path)]) == 0
    capsys.readouterr()
    assert main(["reader", "list", "--file", str(path)]) == 0
    listed = capsys.readouterr().out
    assert listed.split() == ["alice", "bob"] and "tlr_" not in listed
    assert main(["reader", "revoke", "--name", "alice", "--file", str(path)]) == 0
    assert reader_tokens.Readers(path).identify(token) is None
    assert main(["reader", "revoke", "--name", "alice", "--file", str(path)]) == 1
    assert "no reader 'alice'" in capsys.readouterr().err
