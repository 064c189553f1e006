"""The read side's SQL, as SQLAlchemy Core: portable to SQLite and PostgreSQL, run on the reader pool.

Stats are computed by the database (GROUP BY sensor, time bucket), never by fetching rows.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Row, event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util.concurrency import await_

from protocol.readings import QUANTITIES, Reading
from web_node.errors import ApiError
from web_node.storage_errors import storage_errors
from web_node.write.rollups import SensorSummary

if TYPE_CHECKING:  # the read path needs only its reader engine, not the write path's modules
    from web_node.write.storage import Storage

readings = Reading.__table__
summary = SensorSummary.__table__
_READING_COLUMNS = (readings.c.sensor_id, readings.c.seq, readings.c.ts, *(readings.c[q] for q in QUANTITIES))


# SQLite calls the progress handler every this many virtual machine steps (well under a millisecond)
_PROGRESS_STEPS = 20_000
_PG_QUERY_CANCELED = "57014"


class QueryTimeout(ApiError):
    """A read statement ran past WEB_NODE_STATEMENT_TIMEOUT_S and was ended: 503 `query_timeout`."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "query_timeout",
            "the query ran longer than WEB_NODE_STATEMENT_TIMEOUT_S and was stopped; ask for a shorter "
            "range, a larger bucket or fewer sensors",
        )
        self.headers["Retry-After"] = "1"


def limit_reads(engine: AsyncEngine, timeout_s: float) -> None:
    """Bound every statement of the reader pool by `timeout_s`: PostgreSQL's statement_timeout,
    SQLite's progress handler (which interrupts the statement); and sort SQLite's temporary
    b-trees in files, not memory, so one wide read cannot take the process's memory."""
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine.sync_engine, "connect")
        def _statement_timeout(dbapi_conn: Any, _record: Any) -> None:
            # on asyncpg's own connection, outside the adapter's transaction (whose rollback would undo it)
            await_(dbapi_conn.driver_connection.execute(f"SET statement_timeout = {max(1, int(timeout_s * 1000))}"))

        return

    @event.listens_for(engine.sync_engine, "connect")
    def _progress_handler(dbapi_conn: Any, record: Any) -> None:
        deadline = record.info["read_deadline"] = [float("inf")]
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA temp_store=FILE")
        cursor.close()
        driver = dbapi_conn.driver_connection  # aiosqlite's; its sqlite3 connection lives on its thread
        handler = lambda: time.monotonic() > deadline[0]  # noqa: E731 - nonzero ends the statement
        await_(driver._execute(driver._conn.set_progress_handler, handler, _PROGRESS_STEPS))

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start_clock(conn: Any, *_: Any) -> None:
        deadline = conn.connection.info.get("read_deadline")
        if deadline is not None:
            deadline[0] = time.monotonic() + timeout_s


def _timed_out(exc: DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == _PG_QUERY_CANCELED or getattr(orig, "pgcode", None) == _PG_QUERY_CANCELED:
        return True
    return "interrupted" in str(orig)


@asynccontextmanager
async def read_connection(storage: Storage) -> AsyncIterator[AsyncConnection]:
    """A connection of the reader pool; a statement that ran out of time is QueryTimeout, other
    driver failures, on connecting or in the queries run on it, become StorageError."""
    with storage_errors("read"):
        async with storage.reader.connect() as conn:
            try:
                yield conn
            except DBAPIError as exc:
                if _timed_out(exc):
                    raise QueryTimeout from None
                raise


async def sensors(conn: AsyncConnection, *, after: str | None, limit: int) -> list[Row]:
    """Sensors with sensor_id > after, by sensor_id, at most `limit`: count, first/last ts and the
    latest reading (columns named as a reading's), from `sensor_summary` (no raw row is read)."""
    stmt = select(
        summary.c.sensor_id,
        summary.c["count"],
        summary.c.first_ts.label("first_seen"),
        summary.c.last_ts.label("last_seen"),
        summary.c.last_seq.label("seq"),
        summary.c.last_ts.label("ts"),
        *(summary.c[f"last_{q}"].label(q) for q in QUANTITIES),
    )
    if after is not None:
        stmt = stmt.where(summary.c.sensor_id > after)
    return list((await conn.execute(stmt.order_by(summary.c.sensor_id).limit(limit))).all())


async def sensor_readings(
    conn: AsyncConnection, sensor_id: str, *, since: float | None, until: float | None, limit: int | None
) -> list[Row]:
    """One sensor's readings with since <= ts < until, newest first, at most `limit` (None: all)."""
    stmt = (
        select(*_READING_COLUMNS)
        .where(readings.c.sensor_id == sensor_id)
        .order_by(readings.c.ts.desc(), readings.c.id.desc())
        .limit(limit)
    )
    stmt = stmt.where(*time_range(since, until))
    return list((await conn.execute(stmt)).all())


async def sensor_exists(conn: AsyncConnection, sensor_id: str) -> bool:
    """Whether anything of the sensor is kept: its summary outlives its raw readings while its
    rollups are kept (web_node/write/retention.py)."""
    stmt = select(summary.c.sensor_id).where(summary.c.sensor_id == sensor_id)
    return (await conn.execute(stmt)).first() is not None


async def latest(conn: AsyncConnection, limit: int) -> list[Row]:
    """The newest `limit` readings over all sensors, newest first."""
    stmt = select(*_READING_COLUMNS).order_by(readings.c.ts.desc(), readings.c.id.desc()).limit(limit)
    return list((await conn.execute(stmt)).all())


def time_range(since: float | None, until: float | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if since is not None:
        filters.append(readings.c.ts >= since)
    if until is not None:
        filters.append(readings.c.ts < until)
    return filters
