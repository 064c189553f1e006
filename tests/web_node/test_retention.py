"""Retention (web_node/write/retention.py) against a real web node whose readings went in through
POST /api/v1/batches, on a real SQLite file and on PostgreSQL (tests/support/postgres.py):
expired rows go, kept rows stay, counted exactly; a failed round is retried; the SQLite file
stops growing; a bad setting is a start-up error naming the variable."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from protocol.settings import Settings
from tests.support.waiting import async_eventually
from tests.web_node.test_metrics import scrape
from tests.web_node.writes import Writer, reading_at
from web_node.appkeys import retention_key, storage_key
from web_node.read.params import parse_instant
from web_node.storage_errors import StorageError
from web_node.write import migrations_runner
from web_node.write.retention import ROLLUP_TABLES, SUMMARY_TABLE

HOUR, DAY = 3600.0, 86_400.0


async def count(node, sql: str, **params) -> int:
    async with node.app[storage_key].reader.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def prepare_rollup_tables(url: str) -> set[str]:
    """Migrate the database; where the schema has no rollup or summary tables yet, make
    stand-ins of the shared layout. Returns the stand-ins made (their rows are the test's to
    write; real ones are written by the insert path)."""
    engine = create_async_engine(url)
    layouts = {
        name: f"CREATE TABLE {name} (sensor_id VARCHAR(64) NOT NULL, bucket BIGINT NOT NULL, "
        "count BIGINT NOT NULL, PRIMARY KEY (sensor_id, bucket))"
        for name in ROLLUP_TABLES
    }
    layouts[SUMMARY_TABLE] = (
        f"CREATE TABLE {SUMMARY_TABLE} (sensor_id VARCHAR(64) PRIMARY KEY, count BIGINT NOT NULL, "
        "first_ts DOUBLE PRECISION NOT NULL, last_ts DOUBLE PRECISION NOT NULL)"
    )
    made = set()
    try:
        await migrations_runner.upgrade(engine)
        async with engine.begin() as conn:
            names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            for name, layout in layouts.items():
                if name not in names:
                    await conn.execute(text(layout))
                    if name in ROLLUP_TABLES:
                        await conn.execute(text(f"CREATE INDEX ix_{name}_bucket ON {name} (bucket)"))
                    made.add(name)
    finally:
        await engine.dispose()
    return made


async def check_summaries(node) -> None:
    """sensor_summary's count and first_ts are those of the readings kept, sensor by sensor."""
    async with node.app[storage_key].reader.connect() as conn:
        kept = (await conn.execute(text("SELECT sensor_id, count(*), min(ts) FROM readings GROUP BY sensor_id"))).all()
        summary = (await conn.execute(text(f"SELECT sensor_id, count, first_ts FROM {SUMMARY_TABLE}"))).all()
    assert sorted(map(tuple, summary)) == sorted(map(tuple, kept))


async def test_expired_rows_go_and_kept_rows_stay(web_node_factory, http, database_url):
    """One round with 1 d of readings and 3 d of rollups kept (the node's own task keeps the
    tests' century, which touches none of these rows)."""
    stand_ins = await prepare_rollup_tables(database_url)
    node = await web_node_factory()
    now = time.time()
    ages = [40 * DAY, 10 * DAY, 5 * DAY, 2 * DAY, 25 * HOUR, 23 * HOUR, HOUR, 60.0]
    readings = [reading_at(f"s-{n % 3}", n, now - ages[n % len(ages)] + n * 1e-3) for n in range(400)]
    gone = [reading_at("gone", n, now - 40 * DAY + n) for n in range(5)]  # nothing of it is kept
    writer = Writer(http, node)
    assert await writer.store(readings + gone) == 405
    readings += gone
    if SUMMARY_TABLE in stand_ins:
        async with node.app[storage_key].writer.begin() as conn:
            await conn.execute(
                text(
                    f"INSERT INTO {SUMMARY_TABLE} SELECT sensor_id, count(*), min(ts), max(ts) FROM readings "
                    "GROUP BY sensor_id"
                )
            )
    await check_summaries(node)
    for name in stand_ins & set(ROLLUP_TABLES):  # what the rollups of these readings would hold
        async with node.app[storage_key].writer.begin() as conn:
            width = 60 if name.endswith("1m") else 3600
            buckets = {(r["sensor_id"], int(parse_instant(r["ts"]) // width) * width) for r in readings}
            await conn.execute(
                text(f"INSERT INTO {name} (sensor_id, bucket, count) VALUES (:s, :b, 1)"),
                [{"s": s, "b": b} for s, b in buckets],
            )
    raw_cutoff, rollup_cutoff = now - DAY, int(now - 3 * DAY)
    old_raw = await count(node, "SELECT count(*) FROM readings WHERE ts < :c", c=raw_cutoff)
    assert old_raw == 400 * 5 / 8 + 5  # the 40 d, 10 d, 5 d, 2 d and 25 h old
    old_rollups = {
        n: await count(node, f"SELECT count(*) FROM {n} WHERE bucket < :c", c=rollup_cutoff) for n in ROLLUP_TABLES
    }
    all_rollups = {n: await count(node, f"SELECT count(*) FROM {n}") for n in ROLLUP_TABLES}
    assert all(old_rollups.values()) and all(all_rollups[n] > old_rollups[n] for n in ROLLUP_TABLES)

    task = node.app[retention_key]
    retention = dataclasses.replace(task, raw_s=DAY, rollups_s=3 * DAY, clock=lambda: now, batch_rows=37)
    assert retention.rollup_tables == ROLLUP_TABLES
    expired = await retention.run_once()

    assert expired == {"readings": old_raw, **old_rollups}
    assert await count(node, "SELECT count(*) FROM readings") == 405 - old_raw
    await check_summaries(node)
    assert await count(node, "SELECT count(*) FROM readings WHERE ts < :c", c=raw_cutoff) == 0
    for name in ROLLUP_TABLES:
        assert await count(node, f"SELECT count(*) FROM {name}") == all_rollups[name] - old_rollups[name]
        assert await count(node, f"SELECT count(*) FROM {name} WHERE bucket < :c", c=rollup_cutoff) == 0
    m = await scrape(http, node)
    assert m[("telering_retention_expired_total", (("table", "readings"),))] == old_raw
    for name in ROLLUP_TABLES:
        assert m[("telering_retention_expired_total", (("table", name),))] == old_rollups[name]
    # a second round finds nothing more; the history routes answer with what is kept
    assert await retention.run_once() == dict.fromkeys(expired, 0)
    async with http.get(f"{node.url}/api/v1/sensors") as resp:
        listed = (await resp.json())["sensors"]
    assert [s["sensor_id"] for s in listed] == ["s-0", "s-1", "s-2"] and sum(
        s["count"] for s in listed
    ) == 405 - old_raw
    async with http.get(f"{node.url}/api/v1/sensors/gone/readings") as resp:
        assert resp.status == 404
    async with http.get(f"{node.url}/api/v1/sensors/s-0/readings", params={"limit": "1000"}) as resp:
        kept = (await resp.json())["readings"]
    assert sorted(r["seq"] for r in kept) == [n for n in range(0, 400, 3) if ages[n % len(ages)] < DAY]


async def test_background_task_expires_at_start_and_every_interval(web_node_factory, http, database_url):
    """TELERING_RETENTION_RAW=10m: readings an hour old go within an interval, recent ones stay."""
    node = await web_node_factory(telering_retention_raw="10m", telering_retention_interval="0.2s")
    now = time.time()
    old = [reading_at("a", n, now - HOUR + n) for n in range(250)]
    recent = [reading_at("a", 1000 + n, now - 60 + n * 0.1) for n in range(150)]
    assert await Writer(http, node).store(old + recent) == 400

    async def expired() -> bool:
        m = await scrape(http, node)
        # the round that expired them has finished (the one at start found nothing)
        done = m[("telering_retention_runs_total", ())] >= 2
        return done and m[("telering_retention_expired_total", (("table", "readings"),))] == 250

    await async_eventually(expired, timeout=30)
    assert await count(node, "SELECT count(*) FROM readings") == 150
    assert await count(node, "SELECT min(seq) FROM readings") == 1000
    m = await scrape(http, node)
    assert m[("telering_retention_failures_total", ())] == 0


async def test_a_failed_round_is_logged_counted_and_retried(web_node_factory, http, database_url, monkeypatch, caplog):
    node = await web_node_factory(telering_retention_raw="10m", telering_retention_interval="0.2s")
    storage = node.app[storage_key]
    maintain, failures = storage.maintain, []

    async def failing_twice(*args, **kwargs):
        if len(failures) < 2:
            failures.append(args)
            raise StorageError("database maintenance failed: simulated")
        return await maintain(*args, **kwargs)

    monkeypatch.setattr(storage, "maintain", failing_twice)
    now = time.time()
    assert await Writer(http, node).store([reading_at("a", n, now - HOUR + n) for n in range(30)]) == 30

    async def emptied() -> bool:
        return await count(node, "SELECT count(*) FROM readings") == 0

    await async_eventually(emptied, timeout=30)
    m = await scrape(http, node)
    assert m[("telering_retention_failures_total", ())] == 2
    assert m[("telering_retention_expired_total", (("table", "readings"),))] == 30
    assert "retention round failed" in caplog.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_file_stops_growing(web_node_factory, http, database_url):
    """Rounds of 3,000 readings stored and expired: the file's page count levels off and the
    free pages are given back (auto_vacuum=INCREMENTAL, incremental_vacuum after deletes)."""
    node = await web_node_factory()
    path = make_url(database_url).database
    writer = Writer(http, node)
    now = time.time()
    retention = dataclasses.replace(node.app[retention_key], raw_s=DAY, clock=lambda: now)
    assert await writer.store([reading_at("kept", n, now - 60 + n * 0.01) for n in range(1000)]) == 1000

    def pragma(name: str) -> int:
        with sqlite3.connect(path) as db:
            return db.execute(f"PRAGMA {name}").fetchone()[0]

    assert pragma("auto_vacuum") == 2  # INCREMENTAL, from the first table on
    pages = []
    for round_ in range(6):
        batch = [reading_at(f"old-{i % 20}", round_ * 3000 + i, now - 2 * DAY + i) for i in range(3000)]
        assert await writer.store(batch) == 3000
        grown = pragma("page_count")
        assert (await retention.run_once())["readings"] == 3000
        pages.append(pragma("page_count"))
        assert pages[-1] < grown and pragma("freelist_count") == 0
    assert await count(node, "SELECT count(*) FROM readings") == 1000
    assert max(pages[1:]) <= pages[0] * 1.05, pages  # levelled off, not growing round by round
    m = await scrape(http, node)
    assert m[("telering_retention_vacuumed_pages_total", ())] > 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_older_sqlite_file_is_converted_once(web_node_factory, database_url):
    path = make_url(database_url).database
    with sqlite3.connect(path) as db:  # a file made before auto_vacuum=INCREMENTAL, holding data
        db.execute("CREATE TABLE keepsake (n INTEGER)")
        db.executemany("INSERT INTO keepsake VALUES (?)", [(n,) for n in range(100)])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    node = await web_node_factory()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert await count(node, "SELECT count(*) FROM keepsake") == 100


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TELERING_RETENTION_RAW", "7x"),
        ("TELERING_RETENTION_RAW", "0"),
        ("TELERING_RETENTION_ROLLUPS", "-400d"),
        ("TELERING_RETENTION_INTERVAL", "2m"),
    ],
)
def test_bad_retention_setting_is_named(variable, value):
    with pytest.raises(ValueError) as refused:
        Settings(**{variable: value})
    assert variable in str(refused.value)


def test_web_node_refuses_to_start_with_a_bad_retention(tmp_path):
    env = {**os.environ, "TELERING_RETENTION_RAW": "a week", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    done = subprocess.run(
        [sys.executable, "-m", "web_node", "--port", "0"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "TELERING_RETENTION_RAW" in done.stderr and "'a week'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was touched
