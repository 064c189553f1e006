"""The keyring follows the key file: rotation without a restart, and a bad file never leaves a part
without keys (no broker, no server)."""

from __future__ import annotations

import os
import time

import pytest

from protocol.grants import Grant, GrantCodec, GrantInvalid
from protocol.keyring import Keyring
from protocol.keys import add_key, retire_oldest
from protocol.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def signed(key: str, epoch: int = 1) -> str:
    return GrantCodec([key]).sign(Grant(0, epoch, time.time() + 30))


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "telering.keys"
    old = add_key(path)
    return path, old


def test_a_grant_signed_with_a_just_added_key_verifies_at_once(key_file):
    path, old = key_file
    clock = Clock()
    ring = Keyring([old], path, clock=clock)
    new = add_key(path)
    assert ring.verify(signed(new)).epoch == 1  # no waiting for the periodic check
    assert ring.verify(signed(old)).epoch == 1  # both verify until the old one is retired


def test_a_retired_key_is_refused_after_the_periodic_check(key_file):
    path, old = key_file
    clock = Clock()
    ring = Keyring([old], path, clock=clock)
    new = add_key(path)
    ring.verify(signed(new))
    retire_oldest(path)
    assert ring.verify(signed(old)).epoch == 1  # checked less than a second ago
    clock.now += 1.5
    with pytest.raises(GrantInvalid):
        ring.verify(signed(old))
    assert ring.keys == [new]


def test_a_missing_or_empty_file_keeps_the_keys_loaded(key_file):
    path, old = key_file
    clock = Clock()
    ring = Keyring([old], path, clock=clock)
    path.write_text("# nothing here\n")
    clock.now += 2
    assert ring.verify(signed(old)).epoch == 1
    path.unlink()
    clock.now += 2
    assert ring.verify(signed(old)).epoch == 1
    with pytest.raises(GrantInvalid):
        ring.verify(signed("never-a-key"))


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda path, key: path.write_text(""),  # an editor truncating before it writes
        lambda path, key: path.write_text(key[:10]),  # half-written: a key too short to sign with
        lambda path, key: path.chmod(0o000) if os.geteuid() != 0 else path.write_text("\n\n"),  # unreadable
        lambda path, key: (path.chmod(0o644), path.write_text("x" * 43 + "\n")),  # readable by everyone
    ],
    ids=["empty", "half-written", "unreadable", "open-to-others"],
)
def test_a_bad_rewrite_keeps_signing_with_the_last_good_keys_until_the_file_is_good(key_file, rewrite, caplog):
    path, old = key_file
    clock = Clock()
    ring = Keyring([old], path, clock=clock)
    rewrite(path, old)
    clock.now += 2
    with caplog.at_level("ERROR", logger="protocol.keyring"):
        assert GrantCodec([old]).verify(ring.sign(Grant(0, 1, time.time() + 30))).epoch == 1
        value = b'{"type":"release"}'
        assert ring.verify_message(value, ring.sign_message(value))
        clock.now += 2
        ring.sign(Grant(0, 2, time.time() + 30))  # same broken file: not logged again
    assert caplog.text.count("keeping the 1 key(s) loaded") == 1
    path.chmod(0o600)
    new = "n" * 43
    path.write_text(f"{new}\n")
    clock.now += 2
    assert GrantCodec([new]).verify(ring.sign(Grant(0, 3, time.time() + 30))).epoch == 3  # taken up again
    assert ring.keys == [new]


def test_token_messages_signed_with_a_just_added_key_verify_at_once(key_file):
    path, old = key_file
    ring = Keyring([old], path, clock=Clock())
    new = add_key(path)
    value = b'{"type":"presence"}'
    from protocol.token_messages import TokenSigner

    assert ring.verify_message(value, TokenSigner([new]).sign(value))
    assert not ring.verify_message(value, TokenSigner(["x" * 43]).sign(value))


def test_explicit_and_environment_keys_are_fixed(key_file, tmp_path):
    path, old = key_file
    env_key = "e" * 40
    fixed = Keyring.from_settings(Settings(telering_keys_file=path, telering_grant_keys=env_key))
    added = add_key(path)
    with pytest.raises(GrantInvalid):
        fixed.verify(signed(old))
    assert fixed.verify(signed(env_key)).epoch == 1
    follows = Keyring.from_settings(Settings(telering_keys_file=path, telering_grant_keys=None))
    assert follows.keys == [old, added] and added != old
