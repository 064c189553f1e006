"""What `benchmarks.webnode` needs besides HTTP load: a day of history, the raw GROUP BY
baseline of the stats route, and the web node's CPU cost of keeping rollups.

- `store_history`: `sensors` sensors, one reading every `period` s over the last `hours` hours,
  stored through `web_node.write.storage.Storage` (so the rollups are kept as in production) before
  the web node starts; the fence is then put back to "nothing accepted" for the ring.
- `compare_stats`: the stats query of the load, answered by `stats_queries.stats` (rollups)
  and by `stats_queries.raw_stats` (GROUP BY over raw rows) in turn on the same database in
  the same run, while ingestion goes on; both answers are checked equal.
- `rollup_cost`: CPU seconds of this process per stored reading for `Storage.store` (fence,
  insert and rollups, as the web node stores) and for a plain INSERT ... ON CONFLICT DO NOTHING
  of the same rows into the same table through the same driver, each on a scratch database of
  the same backend; the difference is what the rollups add (with PostgreSQL the merge runs in
  the server, so the web node's own CPU hardly changes).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from testkit.report import percentile
from web_node.read import stats_queries
from web_node.write.rollups import STORED_COLUMNS, stored_values
from web_node.write.storage import SQLITE_PRAGMAS, Storage

BATCH = 5000
COST_BATCH = BATCH // 5  # the ring's usual batch
# the rollup-free baseline: the readings' own insert, nothing merged
_PLAIN_INSERT = (
    f"INSERT INTO readings ({', '.join(STORED_COLUMNS)}) VALUES ({{}}) ON CONFLICT (sensor_id, seq) DO NOTHING"
)


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
    """CPU-µs of this process per stored reading, with the rollups (the web node's store) and
    without (a plain insert of the same rows), each on a new scratch database from `make_url`."""
    sensors = [f"cost-{i}" for i in range(20)]
    rows = history_rows(sensors, hours=readings * 10 / 20 / 3600, period=10, now=time.time())[:readings]
    out = {}
    for name, timed in (("with_rollups", _timed_store), ("without_rollups", _timed_plain_insert)):
        cpu, wall = asyncio.run(timed(make_url(), rows))
        out[f"{name}_cpu_us_per_reading"] = 1e6 * cpu / readings
        out[f"{name}_wall_us_per_reading"] = 1e6 * wall / readings
    out["added_cpu_us_per_reading"] = out["with_rollups_cpu_us_per_reading"] - out["without_rollups_cpu_us_per_reading"]
    return out


async def _timed_store(url: str, rows: list[dict]) -> tuple[float, float]:
    storage = Storage(url)
    await storage.open()
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for epoch, start in enumerate(range(0, len(rows), COST_BATCH), start=1):
            await storage.store(rows[start : start + COST_BATCH], epoch=epoch, receiver=0)
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await storage.close()


async def _timed_plain_insert(url: str, rows: list[dict]) -> tuple[float, float]:
    """The same rows in transactions of the same size into the migrated `readings` table, by
    the backend's own driver as the web node writes: sqlite3, or asyncpg's executemany."""
    storage = Storage(url)
    await storage.open()  # the schema, migrated
    await storage.close()
    batches = [rows[start : start + COST_BATCH] for start in range(0, len(rows), COST_BATCH)]
    cpu, wall = time.process_time(), time.perf_counter()
    if make_url(url).get_backend_name() == "sqlite":
        _plain_insert_sqlite(make_url(url).database, batches)
    else:
        await _plain_insert_postgres(url, batches)
    return time.process_time() - cpu, time.perf_counter() - wall


def _plain_insert_sqlite(path: str, batches: list[list[dict]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in SQLITE_PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")
        statement = _PLAIN_INSERT.format(", ".join("?" * len(STORED_COLUMNS)))
        for batch in batches:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(statement, [stored_values(r, time.time()) for r in batch])
            conn.execute("COMMIT")
    finally:
        conn.close()


async def _plain_insert_postgres(url: str, batches: list[list[dict]]) -> None:
    engine = create_async_engine(url, pool_size=1)
    statement = _PLAIN_INSERT.format(", ".join(f"${i}" for i in range(1, len(STORED_COLUMNS) + 1)))
    try:
        for batch in batches:
            async with engine.begin() as conn:
                driver = (await conn.get_raw_connection()).driver_connection  # the asyncpg connection
                await driver.executemany(statement, [stored_values(r, time.time()) for r in batch])
    finally:
        await engine.dispose()
