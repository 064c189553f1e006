"""POST /api/v1/batches against a real web node on loopback with a real SQLite file."""

from __future__ import annotations

import json
import time

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from protocol.grants import GRANT_SALT, Grant, GrantCodec
from protocol.readings import Reading
from tests.support.web import make_reading, sensors_of_receiver
from web_node.appkeys import storage_key


async def count_rows(node) -> int:
    async with node.app[storage_key].reader.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Reading))).scalar_one()


async def post(http, node, readings, grant):
    headers = {"Authorization": f"Bearer {grant}"} if grant is not None else {}
    async with http.post(f"{node.url}/api/v1/batches", json={"readings": readings}, headers=headers) as r:
        return r.status, await r.json()


async def test_batch_stored_once_and_duplicates_counted(web_node_factory, http):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    batch = [make_reading(sid, seq) for seq in range(10)]
    assert await post(http, node, batch, node.grant(0, 1)) == (200, {"stored": 10, "duplicates": 0, "epoch": 1})
    status, body = await post(http, node, [*batch[5:], make_reading(sid, 10)], node.grant(0, 1))
    assert (status, body["stored"], body["duplicates"]) == (200, 1, 5)
    assert await count_rows(node) == 11


async def test_invalid_item_refuses_whole_batch(web_node_factory, http):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    batch = [make_reading(sid, 0), make_reading(sid, 1, temperature=150.0), make_reading(sid, 2, junk=1)]
    status, body = await post(http, node, batch, node.grant(0, 1))
    assert status == 422 and body["error"] == "invalid_readings"
    assert [item["index"] for item in body["items"]] == [1, 2]
    assert await count_rows(node) == 0


async def test_grant_refusals_store_nothing(web_node_factory, http):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    batch = [make_reading(sid, 0)]
    other = node.grant(0, 5, keys=["some-other-key"])
    tampered = node.grant(0, 5)
    tampered = tampered[:10] + ("A" if tampered[10] != "A" else "B") + tampered[11:]
    cases = [
        (None, 401, "grant_invalid"),
        ("garbage", 401, "grant_invalid"),
        (other, 401, "grant_invalid"),
        (tampered, 401, "grant_invalid"),
        (node.grant(0, 5, ttl=-1), 401, "grant_expired"),
        (node.grant(1, 5), 403, "grant_wrong_receiver"),
    ]
    for grant, status, code in cases:
        got_status, body = await post(http, node, batch, grant)
        assert (got_status, body["error"]) == (status, code), grant
    assert await count_rows(node) == 0


async def test_a_grant_of_another_deployment_is_refused_and_raises_no_fence(web_node_factory, http):
    node = await web_node_factory(telering_app_id="production")
    sid = sensors_of_receiver(0)[0]
    codec = GrantCodec(node.keys)  # the same key: only the deployment differs
    staging = codec.sign(Grant(0, 50, time.time() + 30, app="staging"))
    status, body = await post(http, node, [make_reading(sid, 0)], staging)
    assert (status, body["error"]) == (401, "grant_invalid")
    assert "'staging'" in body["detail"] and "'production'" in body["detail"] and "TELERING_APP_ID" in body["detail"]
    # a grant from before grants named their deployment names none: refused as well
    unnamed = URLSafeTimedSerializer(node.keys, salt=GRANT_SALT).dumps(
        {"receiver": 0, "epoch": 50, "expires_at": time.time() + 30}
    )
    status, body = await post(http, node, [make_reading(sid, 0)], unnamed)
    assert (status, body["error"]) == (401, "grant_invalid") and "app" in body["detail"]
    assert await count_rows(node) == 0
    # the fence did not move: this deployment's own epoch 1 is still good
    assert await post(http, node, [make_reading(sid, 0)], node.grant(0, 1)) == (
        200,
        {"stored": 1, "duplicates": 0, "epoch": 1},
    )


async def test_epoch_fencing(web_node_factory, http):
    node = await web_node_factory()
    s0, s1 = sensors_of_receiver(0)[0], sensors_of_receiver(1)[0]
    assert (await post(http, node, [make_reading(s0, 0)], node.grant(0, 7)))[0] == 200
    status, body = await post(http, node, [make_reading(s0, 1)], node.grant(0, 6))
    assert (status, body["error"], body["current_epoch"]) == (409, "grant_superseded", 7)
    # the same epoch for a different receiver is a rival grant: refused too
    assert (await post(http, node, [make_reading(s1, 0)], node.grant(1, 7)))[0] == 409
    assert (await post(http, node, [make_reading(s1, 0)], node.grant(1, 8)))[0] == 200
    # the old holder, replaying its grant after the ring moved on, is refused
    assert (await post(http, node, [make_reading(s0, 1)], node.grant(0, 7)))[0] == 409
    assert await count_rows(node) == 2


async def test_fence_survives_restart(web_node_factory, http):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    assert (await post(http, node, [make_reading(sid, 0)], node.grant(0, 9)))[0] == 200
    await node.runner.cleanup()
    again = await web_node_factory()
    assert (await post(http, again, [make_reading(sid, 1)], again.grant(0, 8)))[0] == 409


async def test_bad_bodies(web_node_factory, http):
    node = await web_node_factory(batch_max_readings=10)
    headers = {"Authorization": f"Bearer {node.grant(0, 1)}", "Content-Type": "application/json"}
    url = f"{node.url}/api/v1/batches"
    sid = sensors_of_receiver(0)[0]
    for data, status, code in [
        (b"{nope", 400, "invalid_json"),
        (b"[]", 422, "invalid_body"),
        (json.dumps({"readings": [make_reading(sid, i) for i in range(11)]}), 413, "too_large"),
        (b"x" * (2 << 20), 413, "too_large"),
    ]:
        async with http.post(url, data=data, headers=headers) as r:
            assert (r.status, (await r.json())["error"]) == (status, code)
    async with http.get(f"{node.url}/healthz") as r:
        assert r.status == 200 and (await r.json())["database"] == "ok"
    assert await count_rows(node) == 0
