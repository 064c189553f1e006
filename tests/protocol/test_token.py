"""Token-topic messages: encode/decode round trips and refusal of anything else."""

from __future__ import annotations

import json

import pytest

from protocol.token import GrantMessage, Presence, Release, TokenMessage, decode, encode

MESSAGES: list[TokenMessage] = [
    GrantMessage(receiver=1, epoch=7, expires_at=1_767_323_045.25, token="abc.def.ghi"),
    Release(receiver=1, epoch=7, stored=120),
    Release(receiver=3, epoch=8, stored=0, duplicates=4, superseded_by=12, worker="worker-a"),
    Presence(worker="worker-a", partitions=(0, 2, 3), at=1_767_323_045.0),
    Presence(worker="worker-b", partitions=(), at=1.0),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: TokenMessage) -> None:
    assert decode(encode(message)) == message


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_encoding_is_compact_json_with_a_type(message: TokenMessage) -> None:
    raw = encode(message)
    assert isinstance(raw, bytes) and b" " not in raw.replace(b'"worker-', b"")
    assert json.loads(raw)["type"] == message.type


def test_presence_partitions_come_back_as_a_tuple() -> None:
    decoded = decode(b'{"type":"presence","worker":"w","partitions":[1,0],"at":2.0}')
    assert isinstance(decoded, Presence) and decoded.partitions == (1, 0)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"null",
        b"42",
        b'"grant"',
        b"{}",
        b'{"type":"unknown","receiver":1}',
        b'{"type":null}',
        b'{"receiver":1,"epoch":2,"stored":3}',
    ],
)
def test_garbage_is_rejected_with_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":"grant"}',
        b'{"type":"release","receiver":0,"epoch":1,"stored":2,"bogus":1}',
        b'{"type":["grant"]}',
    ],
)
def test_wrong_fields_are_rejected(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode(raw)


def test_wrong_fields_raise_value_error_as_documented() -> None:
    with pytest.raises(ValueError):
        decode(b'{"type":"grant"}')
