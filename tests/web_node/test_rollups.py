"""Rollups (readings_1m, readings_1h, sensor_summary) stay equal to a GROUP BY over the raw rows
across replays, duplicates and out-of-order readings; migration 0002 backfills them from rows
stored at revision 0001; `/api/v1/stats` from rollups equals the raw GROUP BY for ragged ranges
and any bucket. On SQLite and on PostgreSQL (tests/support/postgres.py)."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from protocol.quantities import QUANTITIES
from protocol.readings import Reading
from web_node.read import stats_queries
from web_node.write import migrations_runner
from web_node.write.rollups import ReadingsHour, ReadingsMinute, SensorSummary
from web_node.write.storage import Storage

T0 = 1_764_000_000.0  # a multiple of 3600
SENSORS = [f"roll-{i}" for i in range(5)]


def _readings(rng: random.Random, n: int) -> list[dict]:
    """`n` readings over about three hours around T0 + 1 h, with sub-second timestamps."""
    rows = []
    for seq in range(n):
        sensor = rng.choice(SENSORS)
        ts = T0 + 600 + rng.uniform(0, 3 * 3600)
        rows.append(
            {
                "sensor_id": sensor,
                "seq": seq,
                "ts": datetime.fromtimestamp(round(ts, 6), tz=UTC),
                "temperature": round(rng.uniform(-60, 100), 3),
                "humidity": round(rng.uniform(0, 100), 3),
                "pressure": round(rng.uniform(300, 1100), 3),
                "battery": round(rng.uniform(0, 100), 3),
            }
        )
    return rows


async def _store_messily(storage: Storage, rows: list[dict], rng: random.Random, epoch: int = 1) -> int:
    """Store in shuffled batches, each with copies of some of its own readings and replays of
    earlier ones (seq reused with other values: the first stored must stay); returns the epoch."""
    rows = rows[:]
    rng.shuffle(rows)
    done: list[dict] = []
    for start in range(0, len(rows), 97):
        batch = rows[start : start + 97]
        noise = rng.sample(batch, 5) + rng.sample(done, min(20, len(done)))
        replayed = [{**r, "temperature": 99.0} for r in noise]
        result = await storage.store(batch + replayed, epoch=epoch, receiver=0)
        assert len(result.stored) == len(batch)
        done += batch
        epoch += 1
    return epoch


async def _raw(storage: Storage) -> list:
    table = Reading.__table__
    async with storage.reader.connect() as conn:
        return (await conn.execute(select(table.c.id, table.c.sensor_id, table.c.ts, *table.c[QUANTITIES]))).all()


def _expected_rollup(raw: list, width: int) -> dict:
    cells: dict[tuple[str, int], list] = defaultdict(list)
    for row in raw:
        cells[(row.sensor_id, math.floor(row.ts / width) * width)].append(row)
    expected = {}
    for key, rows in cells.items():
        values = [len(rows)]
        for q in QUANTITIES:
            column = [getattr(r, q) for r in rows]
            values += [min(column), max(column), math.fsum(column)]
        expected[key] = values
    return expected


async def _check_rollups(storage: Storage) -> None:
    raw = await _raw(storage)
    async with storage.reader.connect() as conn:
        for model, width in ((ReadingsMinute, 60), (ReadingsHour, 3600)):
            table = model.__table__
            stored = {(r[0], r[1]): list(r[2:]) for r in (await conn.execute(select(table))).tuples()}
            expected = _expected_rollup(raw, width)
            assert stored.keys() == expected.keys()
            for key, values in expected.items():
                got = stored[key]
                assert got[0] == values[0], key
                for i in range(1, len(values), 3):  # min, max exact; sum to rounding
                    assert got[i : i + 2] == values[i : i + 2], key
                    assert got[i + 2] == pytest.approx(values[i + 2], rel=1e-12), key
        summary = {r.sensor_id: r for r in (await conn.execute(select(SensorSummary.__table__))).all()}
    by_sensor: dict[str, list] = defaultdict(list)
    for row in raw:
        by_sensor[row.sensor_id].append(row)
    assert summary.keys() == by_sensor.keys()
    for sensor, rows in by_sensor.items():
        latest = max(rows, key=lambda r: (r.ts, r.id))  # the last stored of those at the last ts
        got = summary[sensor]
        assert (got.count, got.first_ts, got.last_ts) == (len(rows), min(r.ts for r in rows), latest.ts)
        assert [getattr(got, f"last_{q}") for q in QUANTITIES] == [getattr(latest, q) for q in QUANTITIES]


async def test_rollups_equal_raw_group_by_across_replays_and_duplicates(database_url):
    rng = random.Random(13)
    storage = Storage(database_url)
    await storage.open()
    try:
        rows = _readings(rng, 1500)
        epoch = await _store_messily(storage, rows, rng)
        # a later reading at a sensor's last ts: the later stored is the latest
        last = max((r for r in rows if r["sensor_id"] == SENSORS[0]), key=lambda r: r["ts"])
        await storage.store([{**last, "seq": 10**6, "temperature": -1.5}], epoch=epoch, receiver=0)
        # two at a new last ts in one batch: the later in the batch is the latest
        later = {**last, "ts": datetime.fromtimestamp(T0 + 5 * 3600, tz=UTC)}
        pair = [{**later, "seq": 10**6 + 1, "humidity": 1.0}, {**later, "seq": 10**6 + 2, "humidity": 2.0}]
        await storage.store(pair, epoch=epoch, receiver=0)
        await _check_rollups(storage)
        before = await _raw(storage)
        for start in range(0, len(rows), 500):  # the whole lot again: nothing new
            await _store_nothing_new(storage, rows[start : start + 500], epoch=epoch + 1 + start)
    finally:
        await storage.close()
    again = Storage(database_url)
    await again.open()
    try:
        assert len(await _raw(again)) == len(before) == 1503
        await _check_rollups(again)
    finally:
        await again.close()


async def _store_nothing_new(storage: Storage, rows: list[dict], epoch: int) -> None:
    result = await storage.store(rows, epoch=epoch, receiver=0)
    assert result.stored == [] and result.duplicates == len(rows)


async def test_migration_0002_backfills_rollups_from_existing_rows(database_url):
    rng = random.Random(2)
    rows = _readings(rng, 800)
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        await migrations_runner.upgrade(engine, "0001")
        async with engine.begin() as conn:
            await conn.execute(
                Reading.__table__.insert(), [{**r, "ts": r["ts"].timestamp(), "stored_at": T0} for r in rows]
            )
        assert await migrations_runner.current_revision(engine) == "0001"
    finally:
        await engine.dispose()
    storage = Storage(database_url)
    await storage.open()  # migrates to head
    try:
        assert await migrations_runner.current_revision(storage.writer) == migrations_runner.head_revision()
        await _check_rollups(storage)
        await _store_nothing_new(storage, rows[:50], epoch=1)
        await storage.store([{**rows[0], "seq": 5000}], epoch=2, receiver=0)
        await _check_rollups(storage)
    finally:
        await storage.close()


BUCKETS = [1, 7, 45, 60, 90, 120, 300, 1800, 3600, 5400, 7200, 86400]


def _ranges() -> list[tuple[float, float | None]]:
    return [
        (T0, T0 + 4 * 3600),  # aligned to the hour
        (T0 + 613.25, T0 + 3 * 3600 + 1799.5),  # ragged both ends
        (T0 + 3599.999, T0 + 7200.001),  # a hair over one hour
        (T0 + 1234.5, None),  # open-ended
        (T0 + 3600 + 60, T0 + 3600 + 150.5),  # under one bucket of most widths
        (T0 - 86400, T0 + 5 * 3600),  # wider than the data
    ]


@pytest.mark.parametrize("sensors", [[], SENSORS[1:3]], ids=["all", "two"])
async def test_stats_from_rollups_equal_raw_group_by(database_url, sensors):
    rng = random.Random(7)
    storage = Storage(database_url)
    await storage.open()
    try:
        await _store_messily(storage, _readings(rng, 2000), rng)
        async with storage.reader.connect() as conn:
            for bucket in BUCKETS:
                for since, until in _ranges():
                    args = dict(since=since, until=until, bucket=bucket, sensor_ids=sensors, limit=100_000)
                    got = await stats_queries.stats(conn, **args)
                    want = await stats_queries.raw_stats(conn, **args)
                    where = f"bucket {bucket}, [{since}, {until})"
                    assert want, where
                    assert _same(got, want), where
    finally:
        await storage.close()


def _same(got: list, want: list) -> bool:
    """Equal but for the means' rounding: count, min and max exact."""
    assert [tuple(r[:2]) for r in got] == [tuple(r[:2]) for r in want]
    for g, w in zip(got, want, strict=True):
        assert tuple(g[:3]) == tuple(w[:3])
        for i in range(3, len(w), 3):
            assert (g[i], g[i + 1]) == (w[i], w[i + 1])
            assert g[i + 2] == pytest.approx(w[i + 2], rel=1e-12)
    return True


def test_pieces_cut_ragged_ranges_into_aligned_rollup_spans():
    hour, minute = ReadingsHour.__table__, ReadingsMinute.__table__
    assert stats_queries.pieces(T0 + 30.5, T0 + 7300, 3600) == [
        (None, T0 + 30.5, T0 + 60),
        (minute, T0 + 60, T0 + 3600),
        (hour, T0 + 3600, T0 + 7200),
        (minute, T0 + 7200, T0 + 7260),
        (None, T0 + 7260, T0 + 7300),
    ]
    assert stats_queries.pieces(T0 + 30.5, None, 120) == [(None, T0 + 30.5, T0 + 60), (minute, T0 + 60, None)]
    assert stats_queries.pieces(T0, T0 + 50, 60) == [(None, T0, T0 + 50)]
    assert stats_queries.pieces(T0 + 1, T0 + 900, 45) == [(None, T0 + 1, T0 + 900)]
