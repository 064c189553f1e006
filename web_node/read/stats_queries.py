"""`/api/v1/stats` in SQL: from the coarsest rollup whose width divides the bucket, raw rows
only for sub-minute buckets and the partial edges of the range.

[since, until) is cut into aligned pieces: whole hours from `readings_1h`, the whole minutes
left at either end from `readings_1m`, the seconds left from `readings`. Every rollup row lies
inside one answer bucket (its width divides the bucket), so merging count/min/max/sum over the
pieces gives what a GROUP BY over the raw rows gives; the mean is sum / count.

Where the raw rows of an edge have expired (before `raw_since`, TELERING_RETENTION_RAW ago),
that edge is answered from the minute rollup instead, widened to its whole minute: never short.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Double, Row, Select, bindparam, cast, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.quantities import QUANTITIES
from web_node.read.queries import readings, time_range
from web_node.write.rollups import LEVELS, bucket_index

Piece = tuple[Any, float, float | None]  # (rollup table, or None for raw rows; from; until or None)


def pieces(since: float, until: float | None, bucket: int, raw_since: float | None = None) -> list[Piece]:
    """The aligned pieces of [since, until) for this bucket, in time order; raw pieces of a
    minute that starts before `raw_since` widen to that minute of the minute rollup."""
    levels = [(width, table) for width, table in LEVELS if bucket % width == 0]
    cut = _cut(since, until, levels)
    if raw_since is None or not levels:
        return cut
    minute, minutes = levels[-1]
    return [_widened(piece, minute, minutes) if _expired(piece, minute, raw_since) else piece for piece in cut]


def _expired(piece: Piece, width: int, raw_since: float) -> bool:
    table, low, _ = piece
    return table is None and math.floor(low / width) * width < raw_since


def _widened(piece: Piece, width: int, table: Any) -> Piece:
    _, low, high = piece
    start = math.floor(low / width) * width
    return (table, start, start + width if high is None else math.ceil(high / width) * width)


def _cut(low: float, high: float | None, levels: list[tuple[int, Any]]) -> list[Piece]:
    if high is not None and low >= high:
        return []
    if not levels:
        return [(None, low, high)]
    (width, table), finer = levels[0], levels[1:]
    start = math.ceil(low / width) * width
    end = None if high is None else math.floor(high / width) * width
    if end is not None and start >= end:
        return _cut(low, high, finer)
    tail = [] if end is None else _cut(end, high, finer)
    return [*_cut(low, start, finer), (table, start, end), *tail]


async def stats(
    conn: AsyncConnection,
    *,
    since: float,
    until: float | None,
    bucket: int,
    sensor_ids: Sequence[str],
    limit: int,
    raw_since: float | None = None,
) -> list[Row]:
    """Per sensor and bucket (b = floor(ts / bucket)), at most `limit` rows ordered by sensor, then
    bucket: (sensor_id, b, count, then min_q, max_q, mean_q of each quantity q in QUANTITIES order),
    the rollup tables' spelling."""
    parts = pieces(since, until, bucket, raw_since)
    if all(table is None for table, _, _ in parts):
        return await raw_stats(conn, since=since, until=until, bucket=bucket, sensor_ids=sensor_ids, limit=limit)
    return await _merged(conn, parts, bucket, sensor_ids, limit)


async def stats_of_ranges(
    conn: AsyncConnection,
    ranges: Sequence[tuple[float, float | None]],
    *,
    bucket: int,
    sensor_ids: Sequence[str],
    limit: int,
    raw_since: float | None = None,
) -> list[Row]:
    """`stats` of several ranges that share no bucket, in one statement (a stats answer's two
    edges: one round trip to the database instead of two); empty ranges are skipped."""
    ranges = [(low, high) for low, high in ranges if high is None or low < high]
    if not ranges:
        return []
    if len(ranges) == 1:
        ((since, until),) = ranges
        return await stats(
            conn, since=since, until=until, bucket=bucket, sensor_ids=sensor_ids, limit=limit, raw_since=raw_since
        )
    parts = [piece for low, high in ranges for piece in pieces(low, high, bucket, raw_since)]
    return await _merged(conn, parts, bucket, sensor_ids, limit)


async def _merged(
    conn: AsyncConnection, parts: Sequence[Piece], bucket: int, sensor_ids: Sequence[str], limit: int
) -> list[Row]:
    """The pieces' rows merged per sensor and bucket. The statement depends only on the pieces'
    shape (which table, whether open-ended), so it is built once per shape (`_merged_statement`)
    and the bounds, bucket and sensors are its parameters."""
    shape = tuple((table, high is not None) for table, _, high in parts)
    values: dict[str, Any] = {"width": float(bucket)}
    for i, (table, low, high) in enumerate(parts):
        # a rollup's bounds are whole buckets of it (integers, as its column is)
        values[f"low{i}"] = low if table is None else int(low)
        if high is not None:
            values[f"high{i}"] = high if table is None else int(high)
    if sensor_ids:
        values["sensors"] = list(sensor_ids)
    statement = _merged_statement(shape, bool(sensor_ids), limit)
    return list((await conn.execute(statement, values)).all())


@functools.lru_cache(maxsize=256)
def _merged_statement(shape: tuple[tuple[Any, bool], ...], filtered: bool, limit: int) -> Select:
    width = bindparam("width", type_=Double)
    merged = union_all(*(_piece(i, table, bounded, width, filtered) for i, (table, bounded) in enumerate(shape)))
    merged = merged.subquery()
    count = func.sum(merged.c.count)
    aggregates = []
    for q in QUANTITIES:
        mean = cast(func.sum(merged.c[f"sum_{q}"]), Double) / cast(count, Double)
        aggregates += [
            func.min(merged.c[f"min_{q}"]).label(f"min_{q}"),
            func.max(merged.c[f"max_{q}"]).label(f"max_{q}"),
            mean.label(f"mean_{q}"),
        ]
    return (
        select(merged.c.sensor_id, merged.c.b, cast(count, BigInteger).label("count"), *aggregates)
        .group_by(merged.c.sensor_id, merged.c.b)
        .order_by(merged.c.sensor_id, merged.c.b)
        .limit(limit)
    )


def _piece(i: int, table: Any, bounded: bool, width: Any, filtered: bool) -> Select:
    """Piece i of a merged statement: its rows from `table` (raw rows if None, each its own count
    of one) within [low{i}, high{i}) (no end unless `bounded`), of the sensors asked for if `filtered`."""
    low, high = bindparam(f"low{i}"), bindparam(f"high{i}") if bounded else None
    if table is None:
        stmt = select(
            readings.c.sensor_id,
            bucket_index(readings.c.ts, width).label("b"),
            cast(literal(1), BigInteger).label("count"),
            *(readings.c[q].label(f"{stat}_{q}") for q in QUANTITIES for stat in ("min", "max", "sum")),
        ).where(*time_range(low, high))
        source = readings
    else:
        stmt = select(
            table.c.sensor_id,
            bucket_index(table.c.bucket, width).label("b"),
            table.c["count"],
            *(table.c[f"{stat}_{q}"] for q in QUANTITIES for stat in ("min", "max", "sum")),
        ).where(table.c.bucket >= low)
        if high is not None:
            stmt = stmt.where(table.c.bucket < high)
        source = table
    return stmt.where(source.c.sensor_id.in_(bindparam("sensors", expanding=True))) if filtered else stmt


async def raw_stats(
    conn: AsyncConnection, *, since: float, until: float | None, bucket: int, sensor_ids: Sequence[str], limit: int
) -> list[Row]:
    """The same answer as `stats`, by a GROUP BY over raw rows (sub-minute buckets; the
    reference the tests and `benchmarks.webnode` compare with)."""
    filters = time_range(since, until)
    if sensor_ids:
        filters.append(readings.c.sensor_id.in_(sensor_ids))
    # a subquery, so GROUP BY names a column rather than repeating an expression with its own
    # bind parameter (which PostgreSQL would not recognise as the same expression)
    rows = (
        select(
            readings.c.sensor_id,
            bucket_index(readings.c.ts, literal(float(bucket), Double)).label("b"),
            *(readings.c[q] for q in QUANTITIES),
        )
        .where(*filters)
        .subquery()
    )
    aggregates = [
        agg(rows.c[q]).label(f"{name}_{q}")
        for q in QUANTITIES
        for name, agg in (("min", func.min), ("max", func.max), ("mean", func.avg))
    ]
    stmt = (
        select(rows.c.sensor_id, rows.c.b, func.count().label("count"), *aggregates)
        .group_by(rows.c.sensor_id, rows.c.b)
        .order_by(rows.c.sensor_id, rows.c.b)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).all())
