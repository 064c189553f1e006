"""A receiver's turn against a real web node on loopback: every answer settles or retries.

The receiver side is the real one (no Kafka needed for its turn interface); only its dead-letter
producer records instead of writing to Kafka.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import aiohttp

from protocol.grants import Grant, GrantCodec
from protocol.settings import Settings
from protocol.token_messages import GrantMessage
from stream_app.buffers import Pending
from stream_app.dlq import DeadLetter
from stream_app.receiver_side import ReceiverSide
from stream_app.turns import EXPIRY_MARGIN_S, TurnRunner
from stream_app.web_client import WebNodeClient
from tests.support.web import make_reading, sensors_of_receiver


class RecordedDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.sent: Counter[str] = Counter()

    async def send(self, letters) -> None:
        self.letters.extend(letters)
        self.sent.update(letter.kind for letter in letters)


def grant_message(keys, receiver=0, epoch=1, ttl=30.0) -> GrantMessage:
    grant = Grant(receiver, epoch, time.time() + ttl)
    return GrantMessage(receiver=receiver, epoch=epoch, expires_at=grant.expires_at, token=GrantCodec(keys).sign(grant))


def fill(receivers: ReceiverSide, readings: list, partition: int = 0) -> list[Pending]:
    items = [Pending(r if isinstance(r, bytes) else json.dumps(r).encode(), i) for i, r in enumerate(readings)]
    receivers.buffers.extend(partition, items)
    return items


async def run_turn(url, receivers, grant, *, chunk_size=3, max_body_bytes=1 << 20, session=None):
    async with aiohttp.ClientSession() as own:
        runner = TurnRunner(
            receivers,
            WebNodeClient(url, session or own),
            chunk_size=chunk_size,
            max_body_bytes=max_body_bytes,
            worker="w",
        )
        return await runner.run(grant), runner


async def stored_keys(http, node, sensor_id) -> list[int]:
    async with http.get(f"{node.url}/api/v1/sensors/{sensor_id}/readings", params={"limit": "1000"}) as resp:
        return sorted(r["seq"] for r in (await resp.json())["readings"])


async def test_turn_stores_in_chunks_and_empties_the_buffer(web_node_factory):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    side = await receivers_for_test()
    fill(side, [make_reading(sid, i) for i in range(10)])
    release, runner = await run_turn(node.url, side, grant_message(node.keys))
    assert (release.stored, release.duplicates, release.superseded_by) == (10, 0, None)
    assert side.buffers.total == 0 and runner.answers[("200", "")] == 4  # 3 + 3 + 3 + 1


async def test_readings_of_any_partitioner_are_stored_under_the_partition_they_came_from(web_node_factory, http):
    """Sensors whose murmur2 partition is not 2 (a librdkafka or sarama producer put them there)."""
    node = await web_node_factory()
    foreign = sensors_of_receiver(0, n=2) + sensors_of_receiver(1, n=2)
    side = await receivers_for_test()
    fill(side, [make_reading(s, 0) for s in foreign], partition=2)
    release, _ = await run_turn(node.url, side, grant_message(node.keys, receiver=2))
    assert release.stored == 4 and side.buffers.total == 0
    for sensor in foreign:
        assert await stored_keys(http, node, sensor) == [0]


async def test_superseded_turn_settles_nothing_and_reports_the_epoch(web_node_factory, http):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    await http.post(
        f"{node.url}/api/v1/batches",
        json={"readings": [make_reading(sid, 99)]},
        headers={"Authorization": f"Bearer {node.grant(0, 50)}"},
    )
    side = await receivers_for_test()
    fill(side, [make_reading(sid, i) for i in range(4)])
    release, _ = await run_turn(node.url, side, grant_message(node.keys, epoch=7))
    assert (release.stored, release.superseded_by) == (0, 50)
    assert side.buffers.total == 4 and not side._dead_letters.letters


async def test_a_grant_the_web_node_cannot_verify_ends_the_turn_and_settles_nothing(web_node_factory):
    node = await web_node_factory()
    side = await receivers_for_test()
    fill(side, [make_reading(sensors_of_receiver(0)[0], i) for i in range(4)])
    release, runner = await run_turn(node.url, side, grant_message(["x" * 43]))
    assert release.stored == 0 and side.buffers.total == 4 and runner.answers[("401", "grant_invalid")] == 1


async def test_web_node_down_settles_nothing_and_retries_until_the_grant_runs_out():
    side = await receivers_for_test()
    fill(side, [make_reading("sensor-1", i) for i in range(4)])
    grant = grant_message(["k" * 40], ttl=0.8)
    release, runner = await run_turn("http://127.0.0.1:9", side, grant)
    assert release.stored == 0 and side.buffers.total == 4
    # it gave up only once the grant was about to run out, not at the first failure
    assert time.time() >= grant.expires_at - EXPIRY_MARGIN_S
    assert runner.answers[("unavailable", "")] >= 1


async def test_items_the_web_node_refuses_are_dead_lettered_and_the_rest_stored(web_node_factory):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    side = await receivers_for_test()
    fill(side, [make_reading(sid, 0), make_reading(sid, 1, temperature=500.0), make_reading(sid, 2)])
    release, _ = await run_turn(node.url, side, grant_message(node.keys))
    letters = side._dead_letters.letters
    assert release.stored == 2 and side.buffers.total == 0
    assert [d.offset for d in letters] == [1] and "temperature" in letters[0].reason and letters[0].kind == "refused"


async def test_a_chunk_refused_whole_is_halved_until_the_culprit_stands_alone(web_node_factory, http):
    """A body-level refusal (here: bytes that are not JSON at all) must not stall the partition."""
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    side = await receivers_for_test()
    readings = [make_reading(sid, i) for i in range(7)]
    readings[4] = b'{"sensor_id": "' + sid.encode() + b'", oops'
    fill(side, readings)
    release, _ = await run_turn(node.url, side, grant_message(node.keys), chunk_size=7)
    letters = side._dead_letters.letters
    assert release.stored == 6 and side.buffers.total == 0
    assert [d.offset for d in letters] == [4] and "400 invalid_json" in letters[0].reason
    assert await stored_keys(http, node, sid) == [0, 1, 2, 3, 5, 6]


async def test_a_chunk_over_the_body_limit_is_split_by_bytes(web_node_factory, http):
    """A worker configured for larger bodies than the web node takes (413): split, all stored."""
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    side = await receivers_for_test()
    padded = [json.dumps(make_reading(sid, i), indent=300).encode() for i in range(1000)]  # ~2.4 KB each: 2.4 MB
    fill(side, padded)
    release, runner = await run_turn(
        node.url, side, grant_message(node.keys), chunk_size=5000, max_body_bytes=100 << 20
    )
    assert release.stored == 1000 and side.buffers.total == 0 and not side._dead_letters.letters
    assert runner.answers[("413", "too_large")] >= 1
    assert len(await stored_keys(http, node, sid)) == 1000


async def receivers_for_test() -> ReceiverSide:
    side = ReceiverSide(Settings(receiver_buffer_max=100_000), "readings", RecordedDeadLetters(), client_id="test")
    side.owned = {0, 1, 2, 3}
    return side
