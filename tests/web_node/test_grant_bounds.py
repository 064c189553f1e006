"""Grant fields out of range and grants that live too long: 401 JSON, never a 500 (issue 11, point 3).

A real web node on a loopback port with a real SQLite file (or PostgreSQL); grants minted the
way any tool would, with itsdangerous and the documented salt, so the web node is the only check.
"""

from __future__ import annotations

import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from protocol.grants import GRANT_SALT, INT64_MAX, PARTITION_MAX
from tests.support.web import make_reading, sensors_of_receiver
from tests.web_node.test_batches import count_rows


def mint(node, receiver: object = 0, epoch: object = 1, expires_at: object = None) -> str:
    expires_at = time.time() + 5 if expires_at is None else expires_at
    payload = {"receiver": receiver, "epoch": epoch, "expires_at": expires_at, "app": node.settings.telering_app_id}
    return URLSafeTimedSerializer(node.keys, salt=GRANT_SALT).dumps(payload)


async def post(http, node, grant: str, receiver: int = 0) -> tuple[int, dict]:
    reading = make_reading(sensors_of_receiver(receiver % 4)[0], 0)
    headers = {"Authorization": f"Bearer {grant}"}
    async with http.post(f"{node.url}/api/v1/batches", json={"readings": [reading]}, headers=headers) as r:
        return r.status, await r.json()


BAD_NUMBERS = [2**63, -1, 2**64, 1.5, 1.0, True, False, "1", None, 10**30]


@pytest.mark.parametrize("epoch", BAD_NUMBERS)
async def test_epochs_outside_int64_are_401(web_node_factory, http, epoch):
    node = await web_node_factory()
    status, body = await post(http, node, mint(node, epoch=epoch))
    assert (status, body["error"]) == (401, "grant_invalid")
    assert await count_rows(node) == 0


@pytest.mark.parametrize("receiver", [*BAD_NUMBERS, 2**31])
async def test_receivers_outside_a_partition_are_401(web_node_factory, http, receiver):
    node = await web_node_factory()
    status, body = await post(http, node, mint(node, receiver=receiver))
    assert (status, body["error"]) == (401, "grant_invalid")
    assert "receiver" in body["detail"]
    assert await count_rows(node) == 0


async def test_the_largest_epoch_is_stored_and_fences(web_node_factory, http):
    node = await web_node_factory()
    assert (await post(http, node, mint(node, epoch=INT64_MAX)))[0] == 200
    status, body = await post(http, node, mint(node, epoch=INT64_MAX - 1))
    assert (status, body["error"], body["current_epoch"]) == (409, "grant_superseded", INT64_MAX)
    async with http.get(f"{node.url}/healthz") as r:
        assert (await r.json())["fence_epoch"] == INT64_MAX
    # the largest receiver is a valid grant; the batch's readings do not hash to it (unnamed: 403)
    assert (await post(http, node, mint(node, receiver=PARTITION_MAX, epoch=INT64_MAX)))[0] == 403
    assert await count_rows(node) == 1


async def test_a_grant_living_longer_than_the_cap_is_401(web_node_factory, http):
    node = await web_node_factory()  # GRANT_TTL_S=5: the cap is 60 s
    for expires_at in (1e15, time.time() + 3600, time.time() + 61):
        status, body = await post(http, node, mint(node, expires_at=expires_at))
        assert (status, body["error"]) == (401, "grant_invalid"), expires_at
        assert "at most 60 s" in body["detail"]
    assert (await post(http, node, mint(node, expires_at=time.time() + 55)))[0] == 200
    assert await count_rows(node) == 1


async def test_the_cap_follows_grant_ttl(web_node_factory, http):
    node = await web_node_factory(grant_ttl_s=30.0)  # cap 4 x 30 = 120 s
    assert (await post(http, node, mint(node, expires_at=time.time() + 110)))[0] == 200
    status, body = await post(http, node, mint(node, epoch=2, expires_at=time.time() + 130))
    assert (status, body["error"]) == (401, "grant_invalid") and "at most 120 s" in body["detail"]
