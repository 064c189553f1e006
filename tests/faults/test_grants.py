"""Hostile grants (issue 6, 7): each refused with its documented status and code, nothing stored.

Needs: the session's real Apache Kafka broker, a real web node process with a SQLite file, a real
worker process (whose coordinator mints the real grants replayed here) and the simulator.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from protocol.grants import Grant, GrantCodec
from protocol.keys import new_key
from protocol.token_messages import GrantMessage
from testkit.observers import refusals
from tests.faults.hostile import fence, healthy, mint, post
from tests.support.pipeline import stored_exactly_once
from tests.support.web import make_reading, sensors_of_receiver

pytestmark = pytest.mark.kafka

PARTITIONS = 4


def tamper(token: str, **changes: object) -> str:
    """Re-encode the payload with changed fields, keeping the original signature."""
    payload_b64, rest = token.split(".", 1)
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    payload.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
    return encoded.decode() + "." + rest


def batch(receiver: int) -> dict:
    """New readings (sensors the simulator never uses) of one receiver: storing them would show."""
    return {
        "readings": [
            make_reading(sid, seq)
            for sid in sensors_of_receiver(receiver, PARTITIONS, 2, "hostile-")
            for seq in range(3)
        ]
    }


def test_hostile_grants_are_refused_and_the_database_is_unchanged(pipeline_factory):
    # grants live a minute, so replayed real grants are still unexpired: the epoch fence must refuse them
    harness = pipeline_factory(partitions=PARTITIONS, grant_ttl_s=60)
    _, (worker,) = harness.start()
    first = harness.simulate("--sensors", "8", "--count", "800", "--rate", "0", "--seed", "5")
    stored_exactly_once(harness, first)

    stored, (epoch, holder) = harness.stored(), fence(harness)
    grants = [m for m in harness.token_messages() if isinstance(m, GrantMessage)]
    current = next(g for g in grants if g.epoch == epoch)  # the real grant the web node accepted last
    old = next(g for g in reversed(grants) if g.epoch < epoch and g.expires_at > time.time() + 20)
    other = (holder + 1) % PARTITIONS
    signed_elsewhere = GrantCodec([new_key()]).sign(Grant(holder, epoch + 1, time.time() + 30, harness.app_id))

    cases = [
        ("none", None, None, holder, 401, "grant_invalid"),
        ("not a bearer", None, f"Basic {current.token}", holder, 401, "grant_invalid"),
        ("malformed", "not-a-grant", None, holder, 401, "grant_invalid"),
        ("truncated", current.token[:-4], None, holder, 401, "grant_invalid"),
        ("another key", signed_elsewhere, None, holder, 401, "grant_invalid"),
        ("tampered epoch", tamper(current.token, epoch=epoch + 1000), None, holder, 401, "grant_invalid"),
        ("tampered receiver", tamper(current.token, receiver=other), None, other, 401, "grant_invalid"),
        ("tampered expiry", tamper(old.token, expires_at=time.time() + 3600), None, old.receiver, 401, "grant_invalid"),
        ("expired", mint(harness, holder, epoch + 1, ttl=-1), None, holder, 401, "grant_expired"),
        ("stale epoch", mint(harness, holder, epoch - 1), None, holder, 409, "grant_superseded"),
        ("rival at the fenced epoch", mint(harness, other, epoch), None, other, 409, "grant_superseded"),
        ("replay after the ring moved on", old.token, None, old.receiver, 409, "grant_superseded"),
        ("A's grant for B's readings", current.token, None, other, 403, "grant_wrong_receiver"),
    ]
    for name, token, authorization, receiver, status, code in cases:
        got, body = post(harness.web_url, batch(receiver), token, authorization=authorization)
        assert (got, body.get("error")) == (status, code), f"{name}: {got} {body}"
        if status == 409:
            assert body["current_epoch"] == epoch, name
        assert (harness.stored(), fence(harness)) == (stored, (epoch, holder)), f"{name} changed the database"

    counted = refusals(harness.web_url)
    for code in {"grant_invalid", "grant_expired", "grant_superseded", "grant_wrong_receiver"}:
        assert counted[code] == sum(c[5] == code for c in cases), code
    assert healthy(harness) and worker.alive

    # the real pipeline carries on as if nothing happened
    second = harness.simulate("--sensors", "8", "--count", "400", "--rate", "0", "--seed", "5", "--start-seq", "1000")
    stored_exactly_once(harness, first, second)
