"""SQLModel/SQLAlchemy storage: idempotent bulk insert with epoch fencing and rollups.

Writes go through one connection (SQLite has one writer anyway): SQLite's on a thread of its
own (`storage_sqlite`), PostgreSQL's on the async engine (`storage_pg`, COPY); reads use their
own pool, so in WAL mode a long query never blocks ingestion.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import BigInteger, Column, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel import Field, SQLModel

from protocol.readings import ReadingIn
from web_node import fence, schema, storage_pg
from web_node.alerts import tables as _alert_tables  # noqa: F401  (registers the alert tables)
from web_node.alerts.store import AlertJudge
from web_node.fence import FenceRefused
from web_node.storage_sqlite import SqliteWriter

log = logging.getLogger(__name__)

# Every SQLite connection of the web node runs these, the writer thread's own included.
# synchronous=FULL: a batch answered 200 (whose Kafka offsets are then committed) is on disk.
# auto_vacuum first, before any table exists, so a new file reclaims the pages retention frees
# (an older file is converted once by web_node/retention.py)
SQLITE_PRAGMAS = (
    "auto_vacuum=INCREMENTAL",
    "journal_mode=WAL",
    "synchronous=FULL",
    "busy_timeout=30000",
    "temp_store=MEMORY",
)

T = TypeVar("T")
Row = Mapping[str, Any]  # a validated reading's fields (ReadingIn's names; `ts` a datetime)


class GrantFence(SQLModel, table=True):
    """The highest grant the web node has accepted (one row): the fencing token."""

    __tablename__ = "grant_fence"

    id: int = Field(default=1, primary_key=True)
    epoch: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    receiver: int = -1
    updated_at: float = 0.0


class StorageError(Exception):
    """The database could not do what was asked."""


class Superseded(StorageError):
    """A grant older than (or rival to) the one the web node last accepted."""

    def __init__(self, epoch: int, receiver: int) -> None:
        super().__init__(f"a newer grant (epoch {epoch}, receiver {receiver}) was already accepted")
        self.epoch = epoch
        self.receiver = receiver


@dataclass(frozen=True)
class StoreResult:
    stored: list  # the readings newly stored, as passed to `store`
    duplicates: int
    transitions: list = field(default_factory=list)  # the alert transitions recorded with them


class Storage:
    """Owns the engines; `open()` and `close()` bracket its life (see app cleanup_ctx)."""

    def __init__(self, url: str, *, read_pool_size: int = 5, alerts: AlertJudge | None = None) -> None:
        self.url = url
        self.dialect = make_url(url).get_dialect().name
        self._write_lock = asyncio.Lock()
        self.writer: AsyncEngine = _engine(url, pool_size=1)
        self.reader: AsyncEngine = _engine(url, pool_size=read_pool_size)
        self.fence_epoch = 0
        self.alerts = alerts  # None: no alerting (TELERING_ALERT_RULES unset)
        self.on_transitions: list[Callable[[list], None]] = []  # told of each commit's alert transitions
        # SQLite's writes go through a thread of their own; PostgreSQL's through `writer`
        judge = alerts.judge_sqlite if alerts is not None else None
        self._sqlite = (
            SqliteWriter(make_url(url).database, SQLITE_PRAGMAS, judge=judge) if self.dialect == "sqlite" else None
        )

    async def open(self, *, migrate: bool = True) -> None:
        """Bring the schema up to date (Alembic), or with `migrate=False` refuse one that is
        not (SchemaOutOfDate, naming the command that migrates); then load the fence."""
        if migrate:
            await schema.upgrade(self.writer)
        else:
            await schema.require_current(self.writer)
        async with self.writer.begin() as conn:
            await conn.execute(
                _insert(self.dialect, GrantFence.__table__).on_conflict_do_nothing(),
                [{"id": 1, "epoch": 0, "receiver": -1, "updated_at": 0.0}],
            )
            self.fence_epoch = (await conn.execute(select(GrantFence.epoch))).scalar_one()
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

    async def store(self, readings: Sequence[Row | ReadingIn], *, epoch: int, receiver: int) -> StoreResult:
        """Fence on (epoch, receiver), insert, and roll up what is new: one transaction, so a
        refused grant stores nothing and an accepted one raises the fence atomically.

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
            if self._sqlite is not None:
                return await self._sqlite.store(rows, epoch=epoch, receiver=receiver, now=now)
            async with self.writer.begin() as conn:
                await self._raise_fence(conn, epoch=epoch, receiver=receiver, now=now)
                inserted = await storage_pg.insert(conn, rows, now) if rows else set()
                judged = self.alerts is not None and rows
                return inserted, (await self.alerts.judge_pg(conn, rows, inserted, now) if judged else [])
        except FenceRefused as exc:
            self.fence_epoch = max(self.fence_epoch, exc.epoch)
            raise Superseded(exc.epoch, exc.receiver) from None
        except (SQLAlchemyError, sqlite3.Error, asyncpg.PostgresError, OSError) as exc:
            raise StorageError(f"database write failed: {exc.__class__.__name__}: {exc}") from exc

    async def _raise_fence(self, conn, *, epoch: int, receiver: int, now: float) -> None:
        accepted = await conn.execute(text(fence.RAISE), {"epoch": epoch, "receiver": receiver, "now": now})
        if accepted.rowcount != 1:
            row = (await conn.execute(text(fence.HELD))).one()
            raise FenceRefused(row.epoch, row.receiver)

    async def maintain(self, work: Callable[[AsyncConnection], Awaitable[T]], *, transaction: bool = True) -> T:
        """`work(conn)` on the writer in one short transaction of its own (retention's batches),
        between batches of readings: a batch waits for at most one of these. `transaction=False`
        runs it in autocommit (VACUUM cannot run in a transaction)."""
        try:
            async with self._write_lock, self.writer.connect() as conn:
                if not transaction:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                async with conn.begin():
                    return await work(conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"database maintenance failed: {exc.__class__.__name__}: {exc}") from exc


def _insert(dialect: str, table):
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise StorageError(f"unsupported database dialect {dialect!r}: use sqlite+aiosqlite or postgresql+asyncpg")


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
