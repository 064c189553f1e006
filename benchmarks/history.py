"""What `benchmarks.webnode` needs besides HTTP load: a day of history, the raw GROUP BY
baseline of the stats route, and the web node's CPU cost of keeping rollups.

- `store_history`: `sensors` sensors, one reading every `period` s over the last `hours` hours,
  stored through `web_node.write.storage.Storage` (so the rollups are kept as in production) before
  the web node starts; the fence is then put back to "nothing accepted" for the ring.
- `compare_stats`: the stats query of the load, answered by `stats_queries.stats` (rollups)
  and by `stats_queries.raw_stats` (GROUP BY over raw rows) in turn on the same database in
  the same run, while ingestion goes on; both answers are checked equal.
- `rollup_cost`: CPU seconds of this process per stored reading for `Storage.store` with and
  without the rollup statements, on a scratch database of the same backend (with PostgreSQL
  the merge runs in the server, so the web node's own CPU hardly changes).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import text

from testkit.report import percentile
from web_node.read import stats_queries
from web_node.write import storage_pg, storage_sqlite
from web_node.write.storage import Storage

BATCH = 5000


def history_rows(sensors: Sequence[str], hours: float, period: float, now: float, seq0: int = 0) -> list[dict]:
    start = math.floor((now - hours * 3600) / period) * period
    steps = int(hours * 3600 / period)
    return [
        {
            "sensor_id": sensor,
            "seq": seq0 + i,
            "ts": datetime.fromtimestamp(start + period * i + 0.001 * n, tz=UTC),
            "temperature": round(20 + 10 * math.sin(i / 500 + n), 3),
            "humidity": 50.0 + n % 7,
            "pressure": 1000.0 + i % 13,
            "battery": 90.0 - (i % 100) / 10,
        }
        for n, sensor in enumerate(sensors)
        for i in range(steps)
    ]


async def store_history(url: str, rows: list[dict]) -> int:
    storage = Storage(url)
    await storage.open()
    try:
        stored = 0
        for start in range(0, len(rows), BATCH):
            stored += len((await storage.store(rows[start : start + BATCH], epoch=1, receiver=0)).stored)
        async with storage.writer.begin() as conn:  # as new: the ring's first grants must pass
            await conn.execute(text("UPDATE grant_fence SET epoch = 0, receiver = -1 WHERE id = 1"))
        return stored
    finally:
        await storage.close()


async def compare_stats(url: str, query: dict, repeats: int) -> dict:
    """p50/p99 ms of the rollup and the raw answers to the same query, alternating."""
    storage = Storage(url)
    timings: dict[str, list[float]] = {"rollups": [], "raw": []}
    try:
        for _ in range(repeats):
            answers = []
            for name, fn in (("rollups", stats_queries.stats), ("raw", stats_queries.raw_stats)):
                async with storage.reader.connect() as conn:
                    began = time.perf_counter()
                    answers.append(await fn(conn, **query))
                    timings[name].append(1000 * (time.perf_counter() - began))
            same = _same(*answers)
    finally:
        await storage.close()
    out = {f"{name}_p50_ms": percentile(v, 50) for name, v in timings.items()}
    out |= {f"{name}_p99_ms": percentile(v, 99) for name, v in timings.items()}
    out["repeats"] = repeats
    out["points"] = len(answers[0])
    out["same_answer"] = same
    if out["rollups_p50_ms"]:
        out["speedup_p50"] = out["raw_p50_ms"] / out["rollups_p50_ms"]
    return out


def _same(got: list, want: list) -> bool:
    """Equal answers: sensors, buckets, counts, min and max exactly, means to rounding."""
    if [tuple(r[:3]) for r in got] != [tuple(r[:3]) for r in want]:
        return False
    for g, w in zip(got, want, strict=True):
        for i in range(3, len(w), 3):
            if (g[i], g[i + 1]) != (w[i], w[i + 1]) or not math.isclose(g[i + 2], w[i + 2], rel_tol=1e-9):
                return False
    return True


def rollup_cost(make_url: Callable[[], str], readings: int = 60_000) -> dict:
    """CPU-µs of this process per stored reading, with and without the rollup statements."""
    out = {}
    for name, rollups in (("with_rollups", True), ("without_rollups", False)):
        saved = storage_sqlite._UPSERTS, storage_pg._INSERT
        if not rollups:
            storage_sqlite._UPSERTS, storage_pg._INSERT = [], storage_pg.insert_statement(rollups=False)
        try:
            cpu, wall = asyncio.run(_timed_store(make_url(), readings))
        finally:
            storage_sqlite._UPSERTS, storage_pg._INSERT = saved
        out[f"{name}_cpu_us_per_reading"] = 1e6 * cpu / readings
        out[f"{name}_wall_us_per_reading"] = 1e6 * wall / readings
    out["added_cpu_us_per_reading"] = out["with_rollups_cpu_us_per_reading"] - out["without_rollups_cpu_us_per_reading"]
    return out


async def _timed_store(url: str, readings: int) -> tuple[float, float]:
    sensors = [f"cost-{i}" for i in range(20)]
    rows = history_rows(sensors, hours=readings * 10 / 20 / 3600, period=10, now=time.time())[:readings]
    storage = Storage(url)
    await storage.open()
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for epoch, start in enumerate(range(0, len(rows), BATCH // 5), start=1):  # the ring's usual batch
            await storage.store(rows[start : start + BATCH // 5], epoch=epoch, receiver=0)
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await storage.close()
