"""Any producer's readings are stored, and the web node says so (issue 11, point 1).

A real web node on a loopback port with a real SQLite file (or PostgreSQL): batches that name
their receiver are stored whatever partitioner placed their readings; readings that murmur2
would have put elsewhere are counted in `telering_readings_unpartitioned_total` and logged once
per receiver; an unnamed batch (an old worker) keeps the murmur2 check.
"""

from __future__ import annotations

import logging

from tests.support.web import make_reading, sensors_of_receiver
from tests.web_node.test_batches import count_rows
from tests.web_node.test_metrics import scrape

UNPARTITIONED = ("telering_readings_unpartitioned_total", ())


async def post(http, node, body, grant):
    async with http.post(f"{node.url}/api/v1/batches", json=body, headers={"Authorization": f"Bearer {grant}"}) as r:
        return r.status, await r.json()


def foreign_logs(caplog, receiver: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "web_node.write.placement" and r.getMessage().startswith(f"receiver {receiver} sends readings")
    ]


async def test_named_batches_of_foreign_partitioners_are_stored_counted_and_logged_once(web_node_factory, http, caplog):
    caplog.set_level(logging.WARNING, logger="web_node.write.placement")
    node = await web_node_factory()
    own = sensors_of_receiver(0, n=2)
    foreign = sensors_of_receiver(1, n=2) + sensors_of_receiver(3, n=1)  # murmur2 places these elsewhere
    first = [make_reading(s, seq) for seq in range(4) for s in [*own, *foreign]]  # 8 own, 12 foreign
    status, body = await post(http, node, {"receiver": 0, "readings": first}, node.grant(0, 1))
    assert (status, body["stored"], body["duplicates"]) == (200, 20, 0)
    # a replay (duplicates are not counted again) and more of the same receiver: still one log line
    second = [make_reading(s, seq) for seq in range(2, 6) for s in foreign]  # 6 duplicates, 6 new
    status, body = await post(http, node, {"receiver": 0, "readings": second}, node.grant(0, 2))
    assert (status, body["stored"], body["duplicates"]) == (200, 6, 6)
    assert (await scrape(http, node))[UNPARTITIONED] == 18
    assert len(foreign_logs(caplog, 0)) == 1
    assert "murmur2" in foreign_logs(caplog, 0)[0] and "stored anyway" in foreign_logs(caplog, 0)[0]
    # another receiver with foreign readings gets its own (single) line
    third = [make_reading(s, 10) for s in own]  # murmur2 puts these in 0, the batch is receiver 2's
    for epoch in (3, 4):
        status, _ = await post(http, node, {"receiver": 2, "readings": third}, node.grant(2, epoch))
        assert status == 200
    assert len(foreign_logs(caplog, 2)) == 1 and len(foreign_logs(caplog, 0)) == 1
    assert (await scrape(http, node))[UNPARTITIONED] == 20
    assert await count_rows(node) == 28
    # readings where murmur2 puts them are not counted
    status, _ = await post(
        http, node, {"receiver": 0, "readings": [make_reading(s, 20) for s in own]}, node.grant(0, 5)
    )
    assert status == 200 and (await scrape(http, node))[UNPARTITIONED] == 20


async def test_a_batch_of_another_receiver_is_refused_whatever_its_readings(web_node_factory, http):
    node = await web_node_factory()
    readings = [make_reading(sensors_of_receiver(1)[0], 0)]
    status, body = await post(http, node, {"receiver": 1, "readings": readings}, node.grant(0, 1))
    assert (status, body["error"]) == (403, "grant_wrong_receiver")
    assert await count_rows(node) == 0


async def test_unnamed_batch_keeps_the_murmur2_check(web_node_factory, http):
    node = await web_node_factory()
    foreign = [make_reading(sensors_of_receiver(1)[0], 0)]
    status, body = await post(http, node, {"readings": foreign}, node.grant(0, 1))
    assert (status, body["error"]) == (403, "grant_wrong_receiver")
    own = [make_reading(sensors_of_receiver(0)[0], 0)]
    assert (await post(http, node, {"readings": own}, node.grant(0, 1)))[0] == 200
    assert await count_rows(node) == 1
    assert (await scrape(http, node))[UNPARTITIONED] == 0


async def test_check_partition_off_neither_refuses_nor_counts(web_node_factory, http, caplog):
    caplog.set_level(logging.WARNING, logger="web_node.write.placement")
    node = await web_node_factory(web_node_check_partition=False)
    foreign = [make_reading(sensors_of_receiver(1)[0], 0)]
    assert (await post(http, node, {"readings": foreign}, node.grant(0, 1)))[0] == 200
    assert (await post(http, node, {"receiver": 0, "readings": [make_reading("x-1", 0)]}, node.grant(0, 2)))[0] == 200
    assert await count_rows(node) == 2
    assert (await scrape(http, node))[UNPARTITIONED] == 0
    assert not foreign_logs(caplog, 0)


async def test_receiver_outside_a_partition_range_is_422(web_node_factory, http):
    node = await web_node_factory()
    readings = [make_reading(sensors_of_receiver(0)[0], 0)]
    for receiver in (-1, 2**31, 2**63, 2**64, 1.5, True, "0"):
        status, body = await post(http, node, {"receiver": receiver, "readings": readings}, node.grant(0, 1))
        assert (status, body["error"]) == (422, "invalid_body"), receiver
    assert await count_rows(node) == 0
