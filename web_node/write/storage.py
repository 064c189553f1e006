"""SQLModel/SQLAlchemy storage: idempotent bulk insert with epoch fencing and rollups.

Writes go through one connection (SQLite has one writer anyway): SQLite's on a thread of its
own (`storage_sqlite`), PostgreSQL's on the async engine (`storage_pg`, COPY); reads use their
own pool, so in WAL mode a long query never blocks ingestion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from protocol.readings import ReadingIn
from web_node.alerts import tables as _alert_tables  # noqa: F401  (registers the alert tables)
from web_node.alerts.store import AlertJudge
from web_node.storage_errors import storage_errors
from web_node.write import fence, migrations_runner, sqlite_files
from web_node.write.fence import GrantSuperseded
from web_node.write.storage_sqlite import SqliteWriter

log = logging.getLogger(__name__)

# Every SQLite connection of the web node runs these, the writer thread's own included.
# synchronous=FULL: a batch answered 200 (whose Kafka offsets are then committed) is on disk.
# auto_vacuum first, before any table exists, so a new file reclaims the pages retention frees
# (an older file is converted once by web_node/write/retention.py)
SQLITE_PRAGMAS = (
    "auto_vacuum=INCREMENTAL",
    "journal_mode=WAL",
    "synchronous=FULL",
    "busy_timeout=30000",
    "temp_store=MEMORY",
)

T = TypeVar("T")
Row = Mapping[str, Any]  # a validated reading's fields (ReadingIn's names; `ts` a datetime)


POSTGRES_EXTRA = "pip install 'telering[postgres]'"
FEEDS_POOL_SIZE = 2  # connections of the background readers (Storage.feeds)


class DatabaseUrlError(ValueError):
    """DATABASE_URL names a database this installation cannot store in: a start-up error."""


@dataclass(frozen=True)
class StoreResult:
    stored: list  # the readings newly stored, as passed to `store`
    duplicates: int
    transitions: list = field(default_factory=list)  # the alert transitions recorded with them


def check_database_url(url: str) -> None:
    """Raise DatabaseUrlError, in one line that says what to do, unless the web node can use
    `url` as installed: SQLite always, PostgreSQL with asyncpg (the `postgres` extra)."""
    _postgres_write_path(url)


class Storage:
    """Owns the engines; `open()` and `close()` bracket its life (see app cleanup_ctx)."""

    def __init__(self, url: str, *, read_pool_size: int = 5, alerts: AlertJudge | None = None) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self._pg = _postgres_write_path(url)
        self._write_lock = asyncio.Lock()
        self.writer: AsyncEngine = _engine(url, pool_size=1)
        self.reader: AsyncEngine = _engine(url, pool_size=read_pool_size)
        # the background readers' own connections (change feeds, change marks, alert outbox): never
        # queued behind the requests' reads, so live pushes and fresh caches keep up under read load
        self.feeds: AsyncEngine = _engine(url, pool_size=FEEDS_POOL_SIZE)
        self.fence_epoch = 0
        self.alerts = alerts  # None: no alerting (TELERING_ALERT_RULES unset)
        self.on_transitions: list[Callable[[list], None]] = []  # told of each commit's alert transitions
        # SQLite's writes go through a thread of their own; PostgreSQL's through `writer`
        judge = alerts.judge_sqlite if alerts is not None else None
        self._sqlite = SqliteWriter(make_url(url).database, SQLITE_PRAGMAS, judge=judge) if self._pg is None else None

    async def open(self, *, migrate: bool = True) -> None:
        """Bring the schema up to date (Alembic), or with `migrate=False` refuse one that is
        not (SchemaOutOfDate, naming the command that migrates); then load the fence."""
        sqlite_files.make_private(self.url)  # before SQLite creates it under the process's umask
        if migrate:
            await migrations_runner.upgrade(self.writer)
        else:
            await migrations_runner.require_current(self.writer)
        async with self.writer.begin() as conn:
            self.fence_epoch = await fence.held_epoch(conn)
        log.info(
            "storage open on %s (fence epoch %d)",
            make_url(self.url).render_as_string(hide_password=True),
            self.fence_epoch,
        )

    async def close(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.close()
        await self.writer.dispose()
        await self.reader.dispose()
        await self.feeds.dispose()

    async def store(self, readings: Sequence[Row | ReadingIn], *, epoch: int, receiver: int) -> StoreResult:
        """Fence on (epoch, receiver), insert, and roll up what is new: one transaction, so a
        refused grant (GrantSuperseded) stores nothing and an accepted one raises the fence
        atomically; a database failure is a StorageError.

        `readings` are validated readings: `ReadingIn`s, or their fields as mappings (what the
        batch endpoint validates a body into). `StoreResult.stored` holds the newly stored ones
        as given, in order; the others were already stored (same sensor_id and seq)."""
        now = time.time()
        rows = [r if isinstance(r, Mapping) else r.model_dump() for r in readings]
        async with self._write_lock:
            inserted, transitions = await self._write(rows, epoch=epoch, receiver=receiver, now=now)
        self.fence_epoch = max(self.fence_epoch, epoch)
        if transitions:
            self.told_transitions(transitions)
        if inserted is None:  # every one of them was new
            return StoreResult(stored=list(readings), duplicates=0, transitions=transitions)
        stored = []
        for reading, row in zip(readings, rows, strict=False):
            key = (row["sensor_id"], row["seq"])
            if key in inserted:  # the first of a batch's copies is the one stored
                stored.append(reading)
                inserted.discard(key)
        return StoreResult(stored=stored, duplicates=len(readings) - len(stored), transitions=transitions)

    def told_transitions(self, transitions: list) -> None:
        """Hand committed alert transitions to the listeners (live socket, metrics, sinks)."""
        for listener in self.on_transitions:
            try:
                listener(transitions)
            except Exception:  # they are committed: a listener's failure must not fail the batch
                log.exception("alert transition listener %r failed", listener)

    async def _write(self, rows: list[Row], *, epoch: int, receiver: int, now: float):
        try:
            with storage_errors("write"):
                if self._sqlite is not None:
                    return await self._sqlite.store(rows, epoch=epoch, receiver=receiver, now=now)
                async with self.writer.begin() as conn:
                    await fence.raise_in(conn, epoch=epoch, receiver=receiver, now=now)
                    inserted = await self._pg.insert(conn, rows, now) if rows else set()
                    judged = self.alerts is not None and rows
                    return inserted, (await self.alerts.judge_pg(conn, rows, inserted, now) if judged else [])
        except GrantSuperseded as exc:
            self.fence_epoch = max(self.fence_epoch, exc.epoch)
            raise

    async def maintain(self, work: Callable[[AsyncConnection], Awaitable[T]], *, transaction: bool = True) -> T:
        """`work(conn)` on the writer in one short transaction of its own (retention's batches),
        between batches of readings: a batch waits for at most one of these. `transaction=False`
        runs it in autocommit (VACUUM cannot run in a transaction)."""
        with storage_errors("maintenance"):
            async with self._write_lock, self.writer.connect() as conn:
                if not transaction:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                async with conn.begin():
                    return await work(conn)


def _postgres_write_path(url: str) -> ModuleType | None:
    """`storage_pg` for a PostgreSQL URL, None for SQLite. Imported only here: asyncpg is an
    extra, and a web node on SQLite runs without it."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(f"DATABASE_URL is not a database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        return None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername != "postgresql+asyncpg":
        raise DatabaseUrlError(f"unsupported DATABASE_URL {shown}: use sqlite+aiosqlite:// or postgresql+asyncpg://")
    try:
        from web_node.write import storage_pg
    except ModuleNotFoundError as exc:
        if exc.name != "asyncpg":
            raise
        raise DatabaseUrlError(f"DATABASE_URL {shown} needs asyncpg, not installed: {POSTGRES_EXTRA}") from None
    return storage_pg


def _engine(url: str, *, pool_size: int) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
