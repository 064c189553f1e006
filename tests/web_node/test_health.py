"""`/healthz` answers while the read pool is busy (issue 11, web node edges): it has a connection
of its own. A real web node on a loopback port, on a real SQLite file and on the session's
PostgreSQL (tests/support/postgres.py). Its deadline: tests/web_node/test_health_deadline.py.
"""

from __future__ import annotations

import asyncio
import math
import time

from tests.support.waiting import async_eventually
from tests.support.web import sensors_of_receiver
from tests.web_node.writes import Writer, reading_at
from web_node.appkeys import storage_key

WIDE_QUERIES = 60  # well above any pool's capacity: the margin of the in-flight check below
ROWS_PER_SENSOR = 12_000
PERIOD_S = 5
READ_POOL_SIZE = 5  # web_node.write.storage.Storage's default


async def health(http, node) -> tuple[int, dict]:
    async with http.get(f"{node.url}/healthz") as r:
        return r.status, await r.json()


async def test_healthz_answers_before_wide_stats_queries_finish(web_node_factory, http, report):
    node = await web_node_factory()
    sensors = [s for r in range(4) for s in sensors_of_receiver(r, n=1, prefix="wide-")]
    start = math.floor(time.time() / 3600) * 3600 - ROWS_PER_SENSOR * PERIOD_S
    readings = [reading_at(s, i, start + PERIOD_S * i) for s in sensors for i in range(ROWS_PER_SENSOR)]
    assert await Writer(http, node).store(readings) == len(readings)
    # every row of the range scanned, a few buckets answered: wide for the database, small on the wire;
    # a bucket that is not a whole number of minutes cannot come from per-minute rollups
    params = {"since": str(start), "bucket": "3607"}

    async def wide_stats() -> None:
        async with http.get(f"{node.url}/api/v1/stats", params=params) as r:
            assert r.status == 200, await r.text()
            await r.read()

    began = time.perf_counter()
    queries = [asyncio.create_task(wide_stats()) for _ in range(WIDE_QUERIES)]
    read_pool = node.app[storage_key].reader.sync_engine.pool
    await async_eventually(lambda: read_pool.checkedout() >= READ_POOL_SIZE, timeout=60)  # the pool is busy
    status, body = await health(http, node)
    answered_s = time.perf_counter() - began
    in_flight = sum(not q.done() for q in queries)
    await asyncio.gather(*queries)
    report("healthz_under_load_ms", 1000 * answered_s, "ms")
    report("stats_wide_s", time.perf_counter() - began, "s")
    report("stats_in_flight_when_healthz_answered", in_flight, "queries")
    assert (status, body["status"], body["database"]) == (200, "ok", "ok")
    # 200 means within the probe's deadline; and it did not wait its turn in the read pool's queue:
    # a probe queued behind the stats would get a connection only when at most the pool's other
    # connections still held queries (how fast the queries run does not matter, only their number)
    capacity = read_pool.size() + read_pool._max_overflow
    assert in_flight >= capacity, f"only {in_flight} of {WIDE_QUERIES} stats queries still in flight"
