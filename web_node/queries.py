"""The read side's SQL, as SQLAlchemy Core: portable to SQLite and PostgreSQL, run on the reader pool.

Stats are computed by the database (GROUP BY sensor, time bucket), never by fetching rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import ColumnElement, Row, and_, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.readings import QUANTITIES, Reading
from web_node.storage import Storage, StorageError

readings = Reading.__table__
_READING_COLUMNS = (readings.c.sensor_id, readings.c.seq, readings.c.ts, *(readings.c[q] for q in QUANTITIES))


@asynccontextmanager
async def read_connection(storage: Storage) -> AsyncIterator[AsyncConnection]:
    """A connection of the reader pool; driver failures become StorageError."""
    try:
        async with storage.reader.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"database read failed: {exc.__class__.__name__}") from exc


async def sensors(conn: AsyncConnection) -> list[Row]:
    """Per sensor: count, first/last ts, and its latest reading, ordered by sensor_id."""
    per_sensor = (
        select(
            readings.c.sensor_id,
            func.count().label("count"),
            func.min(readings.c.ts).label("first_seen"),
            func.max(readings.c.ts).label("last_seen"),
        )
        .group_by(readings.c.sensor_id)
        .subquery()
    )
    stmt = (
        select(per_sensor.c.count, per_sensor.c.first_seen, per_sensor.c.last_seen, *_READING_COLUMNS)
        .join(readings, and_(readings.c.sensor_id == per_sensor.c.sensor_id, readings.c.ts == per_sensor.c.last_seen))
        .order_by(readings.c.sensor_id, readings.c.id.desc())
    )
    rows = (await conn.execute(stmt)).all()
    latest: dict[str, Row] = {}
    for row in rows:  # two readings at the same latest ts: the last stored wins
        latest.setdefault(row.sensor_id, row)
    return list(latest.values())


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
