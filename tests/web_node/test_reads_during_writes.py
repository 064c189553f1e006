"""Reads never block writes: 20 concurrent readers query every read route while batches are
stored (SQLite in WAL mode, reads on their own connections); both sides finish and the counts
the readers end with match what the writer stored."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp
from sqlalchemy import select

from protocol.readings import Reading
from tests.support.waiting import async_eventually
from tests.support.web import sensors_of_receiver
from tests.web_node.writes import Writer, reading_at
from web_node.appkeys import storage_key

T0 = 1_764_000_000.0
READERS = 20
STORES = 20
PER_SENSOR_PER_STORE = 30


async def test_twenty_readers_while_batches_are_stored(web_node_factory, http, report):
    node = await web_node_factory()
    sensors = [s for receiver in range(4) for s in sensors_of_receiver(receiver, n=2)]
    writer = Writer(http, node)
    written = asyncio.Event()

    async def write() -> float:
        started = time.perf_counter()
        for store in range(STORES):
            first = store * PER_SENSOR_PER_STORE
            await writer.store(
                [reading_at(s, seq, T0 + seq) for s in sensors for seq in range(first, first + PER_SENSOR_PER_STORE)]
            )
        written.set()
        return time.perf_counter() - started

    async def read(reader: int, session: aiohttp.ClientSession) -> int:
        paths = itertools.cycle(
            [
                ("/api/v1/sensors", {}),
                ("/api/v1/readings/latest", {"limit": "100"}),
                ("/api/v1/stats", {"since": str(T0), "until": str(T0 + 3600), "bucket": "60"}),
                (f"/api/v1/sensors/{sensors[reader % len(sensors)]}/readings", {"limit": "100"}),
            ]
        )
        answers, seen = 0, 0
        while not written.is_set() or answers < 4:
            path, params = next(paths)
            async with session.get(f"{node.url}{path}", params=params) as resp:
                body = await resp.json()
                assert resp.status in (200, 404), body  # 404: that sensor not stored yet
            if path == "/api/v1/sensors":
                total = sum(s["count"] for s in body["sensors"])
                assert total >= seen, "a reader saw the count go down"
                seen = total
            answers += 1
        return answers

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=READERS)) as session:
        write_s, *answers = await asyncio.wait_for(
            asyncio.gather(write(), *(read(i, session) for i in range(READERS))), timeout=240
        )

    expected = STORES * PER_SENSOR_PER_STORE * len(sensors)
    assert (writer.stored, writer.duplicates) == (expected, 0)
    async with http.get(f"{node.url}/api/v1/sensors") as resp:
        counts = {s["sensor_id"]: s["count"] for s in (await resp.json())["sensors"]}
    assert counts == {s: STORES * PER_SENSOR_PER_STORE for s in sensors}

    async def stats_total() -> int:
        params = {"since": str(T0), "until": str(T0 + 3600)}
        async with http.get(f"{node.url}/api/v1/stats", params=params) as resp:
            points = [p for series in (await resp.json())["series"] for p in series["points"]]
        return sum(p["count"] for p in points)

    # a stats piece cached while the writes went on is renewed within 1 s of the last one
    await async_eventually(lambda: _equal(stats_total(), expected), timeout=2.0, message="stats after the writes")
    report("store_seconds_under_20_readers", write_s, "s")
    report("read_answers_meanwhile", sum(answers), "answers")


async def test_an_open_read_does_not_hold_up_a_write(web_node_factory, http):
    """A reader in the middle of a long result keeps its statement (its snapshot) open: in WAL
    mode the write still commits at once; with a rollback journal it would wait for the lock
    and then fail with "database is locked"."""
    node = await web_node_factory()
    writer = Writer(http, node)
    await writer.store([reading_at("long", seq, T0 + seq) for seq in range(3000)])
    async with node.app[storage_key].reader.connect() as conn:
        result = await conn.stream(select(Reading.__table__.c.seq).order_by(Reading.__table__.c.seq))
        assert (await result.fetchone()) == (0,)
        assert await writer.store([reading_at("long", seq, T0 + seq) for seq in range(3000, 3100)]) == 100
        await result.close()
    async with http.get(f"{node.url}/api/v1/sensors") as resp:
        assert (await resp.json())["sensors"][0]["count"] == 3100


async def _equal(total, expected: int) -> bool:
    return await total == expected
