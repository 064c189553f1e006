"""The web node's keyring follows the key file: rotation without a restart (no broker, no server)."""

from __future__ import annotations

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


def test_explicit_and_environment_keys_are_fixed(key_file, tmp_path):
    path, old = key_file
    fixed = Keyring.from_settings(Settings(telering_keys_file=path, telering_grant_keys="env-key"))
    add_key(path)
    with pytest.raises(GrantInvalid):
        fixed.verify(signed(old))
    assert fixed.verify(signed("env-key")).epoch == 1
    follows = Keyring.from_settings(Settings(telering_keys_file=path, telering_grant_keys=None))
    assert follows.keys == [old, follows.keys[-1]] and len(follows.keys) == 2
