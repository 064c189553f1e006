"""Retention: the web node's background task that deletes what is older than it keeps.

Raw `readings` older than TELERING_RETENTION_RAW (by `ts`) and rollup rows (`readings_1m`,
`readings_1h`, by `bucket`) older than TELERING_RETENTION_ROLLUPS go, at start and then every
TELERING_RETENTION_INTERVAL (at most a minute), in batches of BATCH_ROWS rows, oldest first
along the ts / bucket index: each batch is its own short transaction through the storage's
writer, so a batch of readings waits for at most one of them. Where the schema has a
per-sensor summary (`sensor_summary`), the same transaction brings its count and first_ts to
what is kept, and drops the sensors nothing is kept of. On SQLite the freed pages are then
given back to the file system (`auto_vacuum=INCREMENTAL`, `PRAGMA incremental_vacuum`), so the
file stops growing; PostgreSQL's autovacuum reuses them on its own.

The task is supervised: a failed round is logged, counted and retried at the next interval.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import column, delete, func, inspect, select, table, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.durations import format_duration
from web_node.appkeys import metrics_key, retention_key, settings_key, storage_key
from web_node.write import marks
from web_node.write.storage import Storage

log = logging.getLogger(__name__)

RAW_TABLE = "readings"
ROLLUP_TABLES = ("readings_1m", "readings_1h")
SUMMARY_TABLE = "sensor_summary"  # per sensor: count, first_ts, ... of the readings kept
_READINGS = table(RAW_TABLE, column("id"), column("sensor_id"), column("ts"))
_SUMMARY = table(SUMMARY_TABLE, column("sensor_id"), column("count"), column("first_ts"))
BATCH_ROWS = 2000  # rows per batch (one transaction): a few milliseconds of the writer
VACUUM_PAGES = 2000  # pages per PRAGMA incremental_vacuum (8 MB of 4 KiB pages)


class RetentionMetrics:
    """telering_retention_*: rows expired per table, rounds run and failed, pages reclaimed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.expired = Counter(
            "telering_retention_expired", "Rows deleted by retention, by table", ["table"], registry=registry
        )
        self.runs = Counter("telering_retention_runs", "Retention rounds completed", registry=registry)
        self.failures = Counter("telering_retention_failures", "Retention rounds that failed", registry=registry)
        self.vacuumed = Counter(
            "telering_retention_vacuumed_pages", "SQLite pages given back to the file system", registry=registry
        )
        self.last_run = Gauge(
            "telering_retention_last_run_timestamp_seconds",
            "When a retention round last completed",
            multiprocess_mode="max",
            registry=registry,
        )
        for name in (RAW_TABLE, *ROLLUP_TABLES):
            self.expired.labels(name)


@dataclass
class Retention:
    """Deletes expired rows of `storage`, keeping `raw_s` seconds of readings, `rollups_s` of rollups."""

    storage: Storage
    raw_s: float
    rollups_s: float
    metrics: RetentionMetrics
    clock: Callable[[], float] = time.time
    batch_rows: int = BATCH_ROWS
    rollup_tables: tuple[str, ...] = field(default=())
    summary: bool = False  # whether the schema has SUMMARY_TABLE

    async def open(self) -> None:
        """Find the rollup and summary tables (once: they exist or not for the life of the
        schema) and, on a SQLite file made before auto_vacuum=INCREMENTAL, convert it (one
        VACUUM, logged)."""
        async with self.storage.reader.connect() as conn:
            names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        self.rollup_tables = tuple(name for name in ROLLUP_TABLES if name in names)
        self.summary = SUMMARY_TABLE in names
        if self.storage.dialect == "sqlite":
            await _incremental_auto_vacuum(self.storage)
        log.info(
            "retention: readings for %s, rollups (%s) for %s",
            format_duration(self.raw_s),
            ", ".join(self.rollup_tables) or "none yet",
            format_duration(self.rollups_s),
        )

    async def run_once(self) -> dict[str, int]:
        """One round: rows deleted per table."""
        now = self.clock()
        expired = {RAW_TABLE: await self._expire_raw(now - self.raw_s)}
        for name in self.rollup_tables:
            expired[name] = await self._expire_rollup(name, int(now - self.rollups_s))
        if self.storage.dialect == "sqlite" and any(expired.values()):
            self.metrics.vacuumed.inc(await _reclaim_pages(self.storage))
        self.metrics.runs.inc()
        self.metrics.last_run.set(time.time())
        if any(expired.values()):
            log.info("retention: expired %s", ", ".join(f"{rows} from {name}" for name, rows in expired.items()))
        return expired

    async def run(self, interval_s: float) -> None:
        """Rounds for ever, one at once and then every `interval_s`; a failed round is retried."""
        while True:
            try:
                await self.run_once()
            except Exception:  # supervised: logged, counted, retried; never a silently dead task
                self.metrics.failures.inc()
                log.exception("retention round failed; retrying in %s", format_duration(interval_s))
            await asyncio.sleep(interval_s)  # the schedule, not a synchronisation

    async def _expire_raw(self, cutoff: float) -> int:
        return await self._in_batches(RAW_TABLE, lambda conn: self._raw_batch(conn, cutoff))

    async def _expire_rollup(self, name: str, cutoff: int) -> int:
        return await self._in_batches(name, lambda conn: self._rollup_batch(conn, name, cutoff))

    async def _in_batches(self, name: str, batch: Callable[[AsyncConnection], Awaitable[int]]) -> int:
        deleted = 0
        while True:
            rows = await self.storage.maintain(batch)
            self.metrics.expired.labels(name).inc(rows)  # as each batch commits: /metrics keeps up
            deleted += rows
            if rows < self.batch_rows:
                return deleted
            await asyncio.sleep(0)  # let the batches of readings waiting for the writer go first

    async def _raw_batch(self, conn: AsyncConnection, cutoff: float) -> int:
        """The oldest `batch_rows` expired readings (along the ts index), and, where the schema
        keeps a per-sensor summary, its count and first_ts brought to what is kept."""
        oldest = select(_READINGS.c.id, _READINGS.c.sensor_id, _READINGS.c.ts).where(_READINGS.c.ts < cutoff)
        rows = (await conn.execute(oldest.order_by(_READINGS.c.ts).limit(self.batch_rows))).all()
        if rows:
            await conn.execute(delete(_READINGS).where(_READINGS.c.id.in_([row.id for row in rows])))
            await marks.bump(conn, rows[0].ts, rows[-1].ts)  # ordered by ts: every hour between too
            if self.summary:
                await _shrink_summaries(conn, collections.Counter(row.sensor_id for row in rows))
        return len(rows)

    async def _rollup_batch(self, conn: AsyncConnection, name: str, cutoff: int) -> int:
        rollup = table(name, column("sensor_id"), column("bucket"))
        oldest = select(rollup.c.sensor_id, rollup.c.bucket).where(rollup.c.bucket < cutoff)
        keys = (await conn.execute(oldest.order_by(rollup.c.bucket).limit(self.batch_rows))).tuples().all()
        if keys:
            await conn.execute(delete(rollup).where(tuple_(rollup.c.sensor_id, rollup.c.bucket).in_(keys)))
            await marks.bump(conn, keys[0][1], keys[-1][1])
            if self.summary:  # a sensor is known while anything of it is kept
                await _forget_sensors(conn, {sensor_id for sensor_id, _ in keys})
        return len(keys)


async def _shrink_summaries(conn: AsyncConnection, deleted: collections.Counter[str]) -> None:
    """A sensor's summary counts the raw readings kept and starts at its oldest kept reading; a
    sensor with no raw reading kept keeps its summary (count 0) while its rollups are kept."""
    for sensor_id, rows in deleted.items():
        oldest_kept = select(func.min(_READINGS.c.ts)).where(_READINGS.c.sensor_id == sensor_id).scalar_subquery()
        await conn.execute(
            update(_SUMMARY)
            .where(_SUMMARY.c.sensor_id == sensor_id)
            .values(count=_SUMMARY.c.count - rows, first_ts=func.coalesce(oldest_kept, _SUMMARY.c.first_ts))
        )


async def _forget_sensors(conn: AsyncConnection, sensor_ids: set[str]) -> None:
    """Drop the summary of those of `sensor_ids` nothing is kept of (like a sensor never seen)."""
    holders = [table(name, column("sensor_id")) for name in (RAW_TABLE, *ROLLUP_TABLES)]
    gone = [~select(t.c.sensor_id).where(t.c.sensor_id == _SUMMARY.c.sensor_id).exists() for t in holders]
    await conn.execute(delete(_SUMMARY).where(_SUMMARY.c.sensor_id.in_(sorted(sensor_ids)), *gone))


async def _incremental_auto_vacuum(storage: Storage) -> None:
    async with storage.reader.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA auto_vacuum")).scalar_one()
    if mode == 2:  # INCREMENTAL
        return
    log.warning("converting the SQLite file to auto_vacuum=INCREMENTAL (one VACUUM, once; a large file takes a while)")
    started = time.monotonic()
    await storage.maintain(_statement("PRAGMA auto_vacuum=INCREMENTAL"), transaction=False)
    await storage.maintain(_statement("VACUUM"), transaction=False)
    log.info("SQLite file converted to auto_vacuum=INCREMENTAL in %.1f s", time.monotonic() - started)


async def _reclaim_pages(storage: Storage) -> int:
    """Give the free pages back to the file system, VACUUM_PAGES per statement; how many were."""
    before = free = await _free_pages(storage)
    while free > 0:
        await storage.maintain(_statement(f"PRAGMA incremental_vacuum({VACUUM_PAGES})"), transaction=False)
        now_free = await _free_pages(storage)
        if now_free >= free:  # nothing more to give back (e.g. a reader still holds old pages)
            break
        free = now_free
        await asyncio.sleep(0)
    return before - free


def _statement(sql: str) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def run(conn: AsyncConnection) -> None:
        await conn.exec_driver_sql(sql)

    return run


async def _free_pages(storage: Storage) -> int:
    async with storage.reader.connect() as conn:
        return (await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one()


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the retention task runs while the app does (after the storage opened)."""
    settings = app[settings_key]
    retention = Retention(
        app[storage_key],
        raw_s=settings.telering_retention_raw,
        rollups_s=settings.telering_retention_rollups,
        metrics=RetentionMetrics(app[metrics_key].registry),
    )
    await retention.open()
    app[retention_key] = retention
    task = asyncio.create_task(retention.run(settings.telering_retention_interval), name="retention")
    task.add_done_callback(_died)
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _died(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("the retention task died: %r", task.exception())
