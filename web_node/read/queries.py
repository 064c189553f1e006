"""The read side's SQL, as SQLAlchemy Core: portable to SQLite and PostgreSQL, run on the reader pool.

Stats are computed by the database (GROUP BY sensor, time bucket), never by fetching rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.readings import QUANTITIES, Reading
from web_node.storage_errors import storage_errors
from web_node.write.rollups import SensorSummary

if TYPE_CHECKING:  # the read path needs only its reader engine, not the write path's modules
    from web_node.write.storage import Storage

readings = Reading.__table__
summary = SensorSummary.__table__
_READING_COLUMNS = (readings.c.sensor_id, readings.c.seq, readings.c.ts, *(readings.c[q] for q in QUANTITIES))


@asynccontextmanager
async def read_connection(storage: Storage) -> AsyncIterator[AsyncConnection]:
    """A connection of the reader pool; driver failures, on connecting or in the queries run on
    it, become StorageError."""
    with storage_errors("read"):
        async with storage.reader.connect() as conn:
            yield conn


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
    conn: AsyncConnection, sensor_id: str, *, since: float | None, until: float | None, limit: int
) -> list[Row]:
    """One sensor's readings with since <= ts < until, newest first, at most `limit`."""
    stmt = (
        select(*_READING_COLUMNS)
        .where(readings.c.sensor_id == sensor_id)
        .order_by(readings.c.ts.desc(), readings.c.id.desc())
        .limit(limit)
    )
    stmt = stmt.where(*time_range(since, until))
    return list((await conn.execute(stmt)).all())


async def sensor_exists(conn: AsyncConnection, sensor_id: str) -> bool:
    stmt = select(readings.c.id).where(readings.c.sensor_id == sensor_id).limit(1)
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
