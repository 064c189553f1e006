"""Token-topic messages: round trips, strict validation of anything else, and their signatures."""

from __future__ import annotations

import json

import pytest

from protocol.token_messages import (
    INT64_MAX,
    MAX_MESSAGE_BYTES,
    GrantMessage,
    Origin,
    Presence,
    Release,
    TokenMessage,
    TokenMessageInvalid,
    TokenSigner,
    decode,
    encode,
    signature_of,
    stamped,
)

MESSAGES: list[TokenMessage] = [
    GrantMessage(receiver=1, epoch=7, expires_at=1_767_323_045.25, token="abc.def.ghi"),
    Release(receiver=1, epoch=7, stored=120),
    Release(receiver=3, epoch=8, stored=0, duplicates=4, superseded_by=12, worker="worker-a"),
    Presence(worker="worker-a", partitions=(0, 2, 3), at=1_767_323_045.0),
    Presence(worker="worker-b", partitions=(), at=1.0),
]
ORIGIN = Origin(app="telering", sender="worker-a", incarnation="0f" * 16, seq=3, sent_at=1_767_323_045.5)
KEY_A, KEY_B = "a" * 43, "b" * 43


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: TokenMessage) -> None:
    assert decode(encode(message)) == message


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_encoding_is_compact_json_with_its_type_first(message: TokenMessage) -> None:
    raw = encode(message)
    assert b", " not in raw and raw.startswith(b'{"type":"%s"' % message.type.encode())
    assert json.loads(raw)["type"] == message.type


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_a_stamped_message_carries_its_origin_inside_the_signed_value(message: TokenMessage) -> None:
    sent = stamped(message, ORIGIN)
    raw = encode(sent)
    assert decode(raw) == sent and decode(raw).origin == ORIGIN and message.origin is None
    signer = TokenSigner([KEY_A])
    replayed_as_newer = raw.replace(b'"seq":3', b'"seq":4')
    assert replayed_as_newer != raw and not signer.verify(replayed_as_newer, signer.sign(raw))


@pytest.mark.parametrize(
    "origin",
    [
        {"app": "", "sender": "w", "incarnation": "0f" * 16, "seq": 1, "sent_at": 1.0},
        {"app": "t", "sender": "", "incarnation": "0f" * 16, "seq": 1, "sent_at": 1.0},
        {"app": "t", "sender": "w", "incarnation": "0F" * 16, "seq": 1, "sent_at": 1.0},
        {"app": "t", "sender": "w", "incarnation": "0f" * 15, "seq": 1, "sent_at": 1.0},
        {"app": "t", "sender": "w", "incarnation": "0f" * 16, "seq": 0, "sent_at": 1.0},
        {"app": "t", "sender": "w", "incarnation": "0f" * 16, "seq": "1", "sent_at": 1.0},
        {"app": "t", "sender": "w", "incarnation": "0f" * 16, "seq": 1, "sent_at": 1e11},
        {"app": "t", "sender": "w", "incarnation": "0f" * 16, "seq": 1},
        {"app": "t", "sender": "w", "incarnation": "0f" * 16, "seq": 1, "sent_at": 1.0, "x": 1},
    ],
)
def test_a_malformed_origin_is_refused(origin: dict) -> None:
    raw = json.dumps({"type": "release", "receiver": 0, "epoch": 1, "stored": 0, "origin": origin}).encode()
    with pytest.raises(TokenMessageInvalid, match="malformed"):
        decode(raw)


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
        b'{"type":["grant"]}',
        b'{"receiver":1,"epoch":2,"stored":3}',
        b'{"type":"grant"}',
        b'{"type":"release","receiver":0,"epoch":1,"stored":2,"bogus":1}',
        # wrong types: strings, booleans and floats are not integers
        b'{"type":"release","receiver":"0","epoch":1,"stored":2}',
        b'{"type":"release","receiver":0,"epoch":"9","stored":2}',
        b'{"type":"release","receiver":true,"epoch":1,"stored":2}',
        b'{"type":"release","receiver":0,"epoch":1.5,"stored":2}',
        b'{"type":"presence","worker":"w","partitions":"0,1","at":1.0}',
        b'{"type":"presence","worker":"w","partitions":[0,"1"],"at":1.0}',
        # out of range: beyond int64, negative, a partition Kafka cannot have, a time past 2100
        b'{"type":"release","receiver":0,"epoch":%d,"stored":2}' % (INT64_MAX + 1),
        b'{"type":"release","receiver":-1,"epoch":1,"stored":2}',
        b'{"type":"grant","receiver":0,"epoch":1,"expires_at":1e400,"token":"t"}',
        b'{"type":"presence","worker":"w","partitions":[2147483648],"at":1.0}',
        b'{"type":"presence","worker":"w","partitions":[0],"at":1e11}',
        b'{"type":"presence","worker":"","partitions":[0],"at":1.0}',
        # deeply nested JSON: refused, not a RecursionError
        b'{"type":"presence","worker":"w","partitions":' + b"[" * 50_000 + b"]" * 50_000 + b',"at":1}',
    ],
)
def test_anything_else_is_refused_as_invalid(raw: bytes) -> None:
    with pytest.raises(TokenMessageInvalid) as refused:
        decode(raw)
    assert refused.value.reason in ("malformed", "too_large") and isinstance(refused.value, ValueError)


def test_an_oversized_message_is_refused_before_parsing() -> None:
    raw = b'{"type":"presence","worker":"' + b"w" * MAX_MESSAGE_BYTES + b'","partitions":[],"at":1.0}'
    with pytest.raises(TokenMessageInvalid, match="too_large"):
        decode(raw)


def test_signatures_verify_with_any_known_key_and_sign_with_the_newest() -> None:
    value = encode(MESSAGES[1])
    old, rotated = TokenSigner([KEY_A]), TokenSigner([KEY_A, KEY_B])
    assert rotated.verify(value, old.sign(value))  # made before the rotation: still good
    assert rotated.sign(value) == TokenSigner([KEY_B]).sign(value)
    assert not old.verify(value, rotated.sign(value))  # the new key is unknown to the old ring


@pytest.mark.parametrize("signature", [None, b"", b"garbage", b"!!!", b"a" * 5000])
def test_bad_or_missing_signatures_do_not_verify(signature) -> None:
    assert not TokenSigner([KEY_A]).verify(encode(MESSAGES[0]), signature)


def test_a_tampered_value_does_not_verify() -> None:
    signer = TokenSigner([KEY_A])
    value = encode(MESSAGES[1])
    assert not signer.verify(value.replace(b'"epoch":7', b'"epoch":9'), signer.sign(value))


def test_signature_header_must_be_there_exactly_once() -> None:
    assert signature_of([("telering-signature", b"s"), ("other", b"x")]) == b"s"
    assert signature_of([("telering-signature", b"s"), ("telering-signature", b"t")]) is None
    assert signature_of(None) is None and signature_of([]) is None
