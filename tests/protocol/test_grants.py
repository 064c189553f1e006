"""GrantCodec: the signed grant's public wire format, expiry, tampering and key rotation."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from protocol.grants import (
    GRANT_SALT,
    INT64_MAX,
    PARTITION_MAX,
    Grant,
    GrantCodec,
    GrantError,
    GrantExpired,
    GrantInvalid,
    max_lifetime_s,
)
from protocol.keys import add_key, read_key_file, retire_oldest

OLD, NEW, OTHER = "old-key-0123456789", "new-key-0123456789", "someone-elses-key"


def grant(ttl: float = 30.0, receiver: int = 2, epoch: int = 5) -> Grant:
    return Grant(receiver=receiver, epoch=epoch, expires_at=time.time() + ttl)


def mint(payload: object, key: str = NEW) -> str:
    """Sign like any other tool would, with itsdangerous directly and the documented contract."""
    return URLSafeTimedSerializer(key, salt="telering.grant.v1").dumps(payload)


def test_the_salt_is_the_documented_one() -> None:
    assert GRANT_SALT == "telering.grant.v1"


def test_sign_then_verify_round_trips() -> None:
    codec = GrantCodec([NEW])
    original = grant()
    assert codec.verify(codec.sign(original)) == original


def test_a_grant_minted_by_another_tool_verifies() -> None:
    expires_at = time.time() + 30
    token = mint({"receiver": 0, "epoch": 1, "expires_at": expires_at, "app": "telering"})
    assert GrantCodec([NEW]).verify(token) == Grant(receiver=0, epoch=1, expires_at=expires_at)


def test_integer_expires_at_from_another_tool_is_accepted() -> None:
    expires_at = int(time.time()) + 30
    assert (
        GrantCodec([NEW])
        .verify(mint({"receiver": 3, "epoch": 9, "expires_at": expires_at, "app": "telering"}))
        .expires_at
        == expires_at
    )


def test_a_signed_grant_is_checkable_by_another_tool() -> None:
    token = GrantCodec([NEW]).sign(grant(receiver=1, epoch=4))
    payload = URLSafeTimedSerializer(NEW, salt="telering.grant.v1").loads(token)
    assert set(payload) == {"receiver", "epoch", "expires_at", "app"} and payload["app"] == "telering"
    assert (payload["receiver"], payload["epoch"]) == (1, 4)


def test_expired_grant_is_refused_with_its_code() -> None:
    codec = GrantCodec([NEW])
    with pytest.raises(GrantExpired) as info:
        codec.verify(codec.sign(grant(ttl=-1)))
    assert info.value.code == "grant_expired"


def test_expiry_uses_the_given_now() -> None:
    codec = GrantCodec([NEW])
    g = Grant(receiver=0, epoch=1, expires_at=1000.0)
    assert codec.verify(codec.sign(g), now=999.0) == g
    with pytest.raises(GrantExpired):
        codec.verify(codec.sign(g), now=1000.0)
    assert g.remaining(now=990.0) == 10.0


def _tamper(token: str, **changes: object) -> str:
    """Re-encode the payload part with changed fields, keeping the old signature."""
    payload_b64, rest = token.split(".", 1)
    padded = payload_b64 + "=" * (-len(payload_b64) % 4)
    payload = json.loads(base64.urlsafe_b64decode(padded))
    payload.update(changes)
    new_b64 = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
    return new_b64.decode() + "." + rest


def test_tampered_payload_is_refused() -> None:
    codec = GrantCodec([NEW])
    token = codec.sign(grant(receiver=1, epoch=5))
    for changes in ({"receiver": 2}, {"epoch": 6}, {"expires_at": time.time() + 3600}, {"app": "other"}):
        with pytest.raises(GrantInvalid) as info:
            codec.verify(_tamper(token, **changes))
        assert info.value.code == "grant_invalid"


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "not-a-grant", "...."])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(GrantInvalid):
        GrantCodec([NEW]).verify(garbage)


def test_a_grant_signed_with_another_key_is_refused() -> None:
    with pytest.raises(GrantInvalid):
        GrantCodec([NEW]).verify(GrantCodec([OTHER]).sign(grant()))


def test_a_grant_with_another_salt_is_refused() -> None:
    token = URLSafeTimedSerializer(NEW, salt="some.other.salt").dumps(
        {"receiver": 0, "epoch": 1, "expires_at": time.time() + 30, "app": "telering"}
    )
    with pytest.raises(GrantInvalid):
        GrantCodec([NEW]).verify(token)


def test_rotation_verifies_old_and_new_and_signs_with_new() -> None:
    rotated = GrantCodec([OLD, NEW])
    from_old = GrantCodec([OLD]).sign(grant(epoch=1))
    from_new = GrantCodec([NEW]).sign(grant(epoch=2))
    assert rotated.verify(from_old).epoch == 1
    assert rotated.verify(from_new).epoch == 2
    signed_by_rotated = rotated.sign(grant(epoch=3))
    assert GrantCodec([NEW]).verify(signed_by_rotated).epoch == 3
    with pytest.raises(GrantInvalid):
        GrantCodec([OLD]).verify(signed_by_rotated)  # a part not yet rotated rejects new grants


def test_after_retiring_the_old_key_its_grants_are_refused(tmp_path: Path) -> None:
    keys_file = tmp_path / "telering.keys"
    for key in (OLD, NEW):
        add_key(keys_file, key)
    from_old = GrantCodec(read_key_file(keys_file)).verify(GrantCodec([OLD]).sign(grant()))
    assert from_old.epoch == grant().epoch  # before: both keys verify
    assert retire_oldest(keys_file) == OLD
    retired = GrantCodec(read_key_file(keys_file))
    assert retired.verify(GrantCodec([NEW]).sign(grant(epoch=2))).epoch == 2
    with pytest.raises(GrantInvalid):
        retired.verify(GrantCodec([OLD]).sign(grant()))


def test_a_codec_needs_a_key() -> None:
    with pytest.raises(ValueError):
        GrantCodec([])


@pytest.mark.parametrize(
    "payload",
    [
        {"receiver": 0, "epoch": 1},
        {"receiver": 0, "epoch": 1, "expires_at": 1e12},  # names no deployment
        {"receiver": 0, "epoch": 1, "expires_at": 1e12, "app": ""},
        {"receiver": 0, "epoch": 1, "expires_at": 1e12, "app": 7},
        {"receiver": 0, "epoch": 1, "expires_at": 1e12, "app": None},
        {"receiver": 0, "epoch": 1, "expires_at": 1e12, "app": "x" * 250},
        {"receiver": 0, "epoch": 1, "expires_at": 1e12, "extra": 1, "app": "telering"},
        {"receiver": -1, "epoch": 1, "expires_at": 1e12, "app": "telering"},
        {"receiver": 0, "epoch": -1, "expires_at": 1e12, "app": "telering"},
        {"receiver": 0, "epoch": 2**63, "expires_at": 1e12, "app": "telering"},
        {"receiver": 0, "epoch": 2**64, "expires_at": 1e12, "app": "telering"},
        {"receiver": 2**31, "epoch": 1, "expires_at": 1e12, "app": "telering"},
        {"receiver": 2**63, "epoch": 1, "expires_at": 1e12, "app": "telering"},
        {"receiver": 1.5, "epoch": 1, "expires_at": 1e12, "app": "telering"},
        {"receiver": 0, "epoch": False, "expires_at": 1e12, "app": "telering"},
        {"receiver": "0", "epoch": 1, "expires_at": 1e12, "app": "telering"},
        {"receiver": 0, "epoch": 1.0, "expires_at": 1e12, "app": "telering"},
        {"receiver": True, "epoch": 1, "expires_at": 1e12, "app": "telering"},
        {"receiver": 0, "epoch": 1, "expires_at": "1e12", "app": "telering"},
        {"receiver": 0, "epoch": 1, "expires_at": True, "app": "telering"},
        {"receiver": 0, "epoch": 1, "expires_at": None, "app": "telering"},
        [0, 1, 1e12],
        "grant",
        None,
    ],
)
def test_payloads_of_the_wrong_shape_are_refused(payload: object) -> None:
    with pytest.raises(GrantInvalid):
        GrantCodec([NEW]).verify(mint(payload))


def test_infinite_expiry_is_refused() -> None:
    # itsdangerous' JSON writes the bare token Infinity, which Python's json reads back.
    with pytest.raises(GrantInvalid):
        GrantCodec([NEW]).verify(mint({"receiver": 0, "epoch": 1, "expires_at": float("inf"), "app": "telering"}))


def test_grant_errors_share_a_base_with_codes() -> None:
    assert issubclass(GrantInvalid, GrantError) and issubclass(GrantExpired, GrantError)
    assert {GrantInvalid.code, GrantExpired.code} == {"grant_invalid", "grant_expired"}


def test_the_largest_epoch_and_receiver_verify() -> None:
    payload = {"receiver": PARTITION_MAX, "epoch": INT64_MAX, "expires_at": time.time() + 5, "app": "telering"}
    assert GrantCodec([NEW]).verify(mint(payload)) == Grant(PARTITION_MAX, INT64_MAX, payload["expires_at"], "telering")


def test_a_grant_living_longer_than_the_cap_is_refused() -> None:
    assert max_lifetime_s(5.0) == 60.0 and max_lifetime_s(30.0) == 120.0
    codec = GrantCodec([NEW])
    assert codec.verify(codec.sign(grant(ttl=59.0)), max_lifetime_s=60.0).epoch == 5
    for expires_at in (time.time() + 61.0, 1e15):
        with pytest.raises(GrantInvalid, match="at most 60 s"):
            codec.verify(
                mint({"receiver": 0, "epoch": 1, "expires_at": expires_at, "app": "telering"}), max_lifetime_s=60.0
            )
    # without a cap (tools that only check the format) a long grant still verifies
    assert codec.verify(mint({"receiver": 0, "epoch": 1, "expires_at": 1e15, "app": "telering"})).expires_at == 1e15


def test_a_grant_of_another_deployment_is_refused_when_the_deployment_is_given() -> None:
    codec = GrantCodec([NEW])  # both deployments hold the same key
    token = codec.sign(Grant(receiver=0, epoch=1, expires_at=time.time() + 30, app="staging"))
    assert codec.verify(token, app="staging").app == "staging"
    with pytest.raises(GrantInvalid, match="'staging', this one is 'production'"):
        codec.verify(token, app="production")
    assert codec.verify(token).app == "staging"  # a tool that only checks the format
