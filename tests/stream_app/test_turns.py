"""A receiver's turn against a real web node on loopback: ack only what was stored."""

from __future__ import annotations

import json
import time

import aiohttp

from protocol.grants import Grant, GrantCodec
from protocol.token import GrantMessage
from stream_app.buffers import Pending, ReceiverBuffers
from stream_app.turns import TurnRunner
from stream_app.web_client import WebNodeClient
from tests.support.web import make_reading, sensors_of_receiver


class FakeEvent:
    def __init__(self) -> None:
        self.acked = False

    def ack(self) -> None:
        self.acked = True


def grant_message(keys, receiver=0, epoch=1, ttl=30.0) -> GrantMessage:
    grant = Grant(receiver, epoch, time.time() + ttl)
    return GrantMessage(receiver, epoch, grant.expires_at, GrantCodec(keys).sign(grant))


def fill(buffers: ReceiverBuffers, readings: list[dict], partition: int = 0) -> list[Pending]:
    items = [Pending(FakeEvent(), json.dumps(r).encode(), i) for i, r in enumerate(readings)]
    for item in items:
        buffers.add(partition, item)
    return items


def runner_for(url, session, buffers, dead=None, chunk_size=3) -> TurnRunner:
    async def dead_letter(receiver, items):
        (dead if dead is not None else []).extend(items)

    return TurnRunner(
        buffers,
        WebNodeClient(url, session),
        chunk_size=chunk_size,
        worker="w",
        ack=lambda chunk: [p.event.ack() for p in chunk],
        dead_letter=dead_letter,
    )


async def test_turn_stores_in_chunks_and_acks(web_node_factory):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    buffers = ReceiverBuffers(1000)
    items = fill(buffers, [make_reading(sid, i) for i in range(10)])
    async with aiohttp.ClientSession() as session:
        release = await runner_for(node.url, session, buffers).run(grant_message(node.keys))
    assert (release.stored, release.duplicates, release.superseded_by) == (10, 0, None)
    assert all(p.event.acked for p in items) and buffers.total == 0


async def test_superseded_turn_acks_nothing_and_reports_epoch(web_node_factory, http):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    await http.post(
        f"{node.url}/api/v1/batches",
        json={"readings": [make_reading(sid, 99)]},
        headers={"Authorization": f"Bearer {node.grant(0, 50)}"},
    )
    buffers = ReceiverBuffers(1000)
    items = fill(buffers, [make_reading(sid, i) for i in range(4)])
    async with aiohttp.ClientSession() as session:
        release = await runner_for(node.url, session, buffers).run(grant_message(node.keys, epoch=7))
    assert (release.stored, release.superseded_by) == (0, 50)
    assert not any(p.event.acked for p in items) and buffers.total == 4


async def test_web_node_down_acks_nothing(unused_tcp_port_factory=None):
    buffers = ReceiverBuffers(1000)
    items = fill(buffers, [make_reading("sensor-1", i) for i in range(4)])
    async with aiohttp.ClientSession() as session:
        runner = runner_for("http://127.0.0.1:9", session, buffers)
        release = await runner.run(grant_message(["k"], ttl=0.6))
    assert release.stored == 0 and not any(p.event.acked for p in items) and buffers.total == 4


async def test_items_the_web_node_refuses_are_dead_lettered(web_node_factory):
    node = await web_node_factory()
    sid = sensors_of_receiver(0)[0]
    buffers = ReceiverBuffers(1000)
    readings = [make_reading(sid, 0), make_reading(sid, 1, temperature=500.0), make_reading(sid, 2)]
    items = fill(buffers, readings)
    dead: list = []
    async with aiohttp.ClientSession() as session:
        release = await runner_for(node.url, session, buffers, dead=dead).run(grant_message(node.keys))
    assert release.stored == 2
    assert [p.offset for p, _ in dead] == [1] and "temperature" in dead[0][1]
    assert all(p.event.acked for p in items) and buffers.total == 0
