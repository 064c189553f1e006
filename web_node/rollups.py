"""Rollups: per sensor 1-minute and 1-hour buckets, and a per-sensor summary, kept exact.

They are maintained in the insert's own transaction from the rows that insert newly stored (a
replay or a duplicate adds nothing), as upserts that merge count, min, max and sum; the same
statements backfill them from raw rows (migration 0002). `bucket` is the unix second the bucket
starts at: floor(ts / width) * width, computed by the expression `/api/v1/stats` groups by.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Double, Index, case, cast, column, func, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, SQLModel

from protocol.quantities import QUANTITIES

# The columns a rollup source must provide (raw rows, or the rows an insert returned).
SOURCE_COLUMNS = ("id", "sensor_id", "seq", "ts", *QUANTITIES)


class bucket_index(FunctionElement[int]):
    """floor(ts / bucket) as an integer, the same on every backend.

    A plain CAST would not do: SQLite truncates toward zero, PostgreSQL rounds to nearest."""

    type = BigInteger()
    inherit_cache = True
    name = "bucket_index"


@compiles(bucket_index)
def _bucket_index_floor(element: bucket_index, compiler: Any, **kw: Any) -> str:
    ts, bucket = element.clauses
    return compiler.process(cast(func.floor(ts / bucket), BigInteger), **kw)


@compiles(bucket_index, "sqlite")
def _bucket_index_sqlite(element: bucket_index, compiler: Any, **kw: Any) -> str:
    # floor() is an optional SQLite build feature; truncate, then step down for negative fractions
    ts, bucket = element.clauses
    quotient = ts / bucket
    truncated = cast(quotient, BigInteger)
    # parenthesised, so the difference stays one operand inside a larger expression
    return f"({compiler.process(truncated - case((quotient < truncated, 1), else_=0), **kw)})"


class RollupBase(SQLModel):
    """One sensor's readings in one bucket: their count and each quantity's min, max and sum."""

    sensor_id: str = Field(primary_key=True, max_length=64)
    bucket: int = Field(primary_key=True, sa_type=BigInteger)
    count: int = Field(sa_type=BigInteger)
    min_temperature: float = Field(sa_type=Double)
    max_temperature: float = Field(sa_type=Double)
    sum_temperature: float = Field(sa_type=Double)
    min_humidity: float = Field(sa_type=Double)
    max_humidity: float = Field(sa_type=Double)
    sum_humidity: float = Field(sa_type=Double)
    min_pressure: float = Field(sa_type=Double)
    max_pressure: float = Field(sa_type=Double)
    sum_pressure: float = Field(sa_type=Double)
    min_battery: float = Field(sa_type=Double)
    max_battery: float = Field(sa_type=Double)
    sum_battery: float = Field(sa_type=Double)


class ReadingsMinute(RollupBase, table=True):
    __tablename__ = "readings_1m"
    __table_args__ = (Index("ix_readings_1m_bucket", "bucket"),)


class ReadingsHour(RollupBase, table=True):
    __tablename__ = "readings_1h"
    __table_args__ = (Index("ix_readings_1h_bucket", "bucket"),)


class SensorSummary(SQLModel, table=True):
    """Per sensor: how many readings, the first and last ts, and the latest reading (the last
    stored of those at the last ts), so listing sensors never scans raw rows."""

    __tablename__ = "sensor_summary"

    sensor_id: str = Field(primary_key=True, max_length=64)
    count: int = Field(sa_type=BigInteger)
    first_ts: float = Field(sa_type=Double)
    last_ts: float = Field(sa_type=Double)
    last_seq: int = Field(sa_type=BigInteger)
    last_temperature: float = Field(sa_type=Double)
    last_humidity: float = Field(sa_type=Double)
    last_pressure: float = Field(sa_type=Double)
    last_battery: float = Field(sa_type=Double)


# (width in seconds, table), coarsest first
LEVELS: tuple[tuple[int, Any], ...] = ((3600, ReadingsHour.__table__), (60, ReadingsMinute.__table__))


def upsert_statements(dialect: str, source: str) -> list[str]:
    """SQL that merges the rows of `source` (a table name, or a parenthesised SELECT with an
    alias, providing SOURCE_COLUMNS) into both rollups and the summary."""
    return [*(_rollup_upsert(dialect, table.name, width, source) for width, table in LEVELS), _summary(dialect, source)]


def _rollup_upsert(dialect: str, table: str, width: int, source: str) -> str:
    least, greatest = _least_greatest(dialect)
    aggregates = ", ".join(f"min({q}), max({q}), sum({q})" for q in QUANTITIES)
    columns = ", ".join(f"min_{q}, max_{q}, sum_{q}" for q in QUANTITIES)
    merges = ", ".join(
        f"min_{q} = {least}({table}.min_{q}, excluded.min_{q}), "
        f"max_{q} = {greatest}({table}.max_{q}, excluded.max_{q}), "
        f"sum_{q} = {table}.sum_{q} + excluded.sum_{q}"
        for q in QUANTITIES
    )
    bucket = f"{_sql(dialect, bucket_index(column('ts'), literal(float(width), Double)))} * {width}"
    return (
        f"INSERT INTO {table} (sensor_id, bucket, count, {columns}) "
        f"SELECT sensor_id, b, count(*), {aggregates} "
        f"FROM (SELECT sensor_id, {bucket} AS b, {', '.join(QUANTITIES)} FROM {source}) AS r "
        "WHERE true GROUP BY sensor_id, b "
        f"ON CONFLICT (sensor_id, bucket) DO UPDATE SET count = {table}.count + excluded.count, {merges}"
    )


def _summary(dialect: str, source: str) -> str:
    least, greatest = _least_greatest(dialect)
    latest = ("last_seq", *(f"last_{q}" for q in QUANTITIES))
    newer = "excluded.last_ts >= sensor_summary.last_ts"  # a tie: the later stored wins
    merges = ", ".join(f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE sensor_summary.{c} END" for c in latest)
    return (
        f"INSERT INTO sensor_summary (sensor_id, count, first_ts, last_ts, {', '.join(latest)}) "
        f"SELECT sensor_id, n, f, ts, seq, {', '.join(QUANTITIES)} FROM ("
        f"SELECT sensor_id, seq, ts, {', '.join(QUANTITIES)}, count(*) OVER w AS n, min(ts) OVER w AS f, "
        "row_number() OVER (PARTITION BY sensor_id ORDER BY ts DESC, id DESC) AS rn "
        f"FROM {source} WINDOW w AS (PARTITION BY sensor_id)) AS latest WHERE rn = 1 "
        "ON CONFLICT (sensor_id) DO UPDATE SET count = sensor_summary.count + excluded.count, "
        f"first_ts = {least}(sensor_summary.first_ts, excluded.first_ts), "
        f"last_ts = {greatest}(sensor_summary.last_ts, excluded.last_ts), {merges}"
    )


def _least_greatest(dialect: str) -> tuple[str, str]:
    return ("min", "max") if dialect == "sqlite" else ("least", "greatest")


def _sql(dialect: str, expression: ColumnElement[Any]) -> str:
    compiled = expression.compile(
        dialect=sqlite.dialect() if dialect == "sqlite" else postgresql.dialect(),
        compile_kwargs={"literal_binds": True},
    )
    return str(compiled)
