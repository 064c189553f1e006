"""Rollups: per sensor 1-minute and 1-hour buckets, and a per-sensor summary, kept exact.

They are maintained in the insert's own transaction from the rows that insert newly stored (a
replay or a duplicate adds nothing), as upserts that merge count, min, max and sum; the same
statements backfill them from raw rows (migration 0002). `bucket` is the unix second the bucket
starts at: floor(ts / width) * width, computed by the expression `/api/v1/stats` groups by.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Double, Index, case, cast, column, func, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, SQLModel

from protocol.quantities import QUANTITIES

# The columns a rollup source must provide (raw rows, or the rows an insert returned).
SOURCE_COLUMNS = ("id", "sensor_id", "seq", "ts", *QUANTITIES)
# A rollup's per-quantity columns, and the summary's: derived, as the SQL that fills them is
STAT_COLUMNS = tuple(f"{stat}_{q}" for q in QUANTITIES for stat in ("min", "max", "sum"))
LATEST_COLUMNS = tuple(f"last_{q}" for q in QUANTITIES)


STORED_COLUMNS = ("sensor_id", "seq", "ts", *QUANTITIES, "stored_at")  # what stored_values gives, in order


def stored_values(row: Any, now: float) -> tuple:
    """A validated reading as the insert's values: sensor_id, seq, ts (unix s), the quantities,
    received_at; both dialects' write paths insert these, in this order."""
    return (row["sensor_id"], row["seq"], row["ts"].timestamp(), *(row[q] for q in QUANTITIES), now)


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


def _with_doubles(base: type[SQLModel], name: str, columns: Iterable[str]) -> type[SQLModel]:
    """`base` with a float (Double) field for each of `columns`, after its own."""

    def body(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = __name__
        namespace["__annotations__"] = dict.fromkeys(columns, float)
        namespace.update({column: Field(sa_type=Double) for column in columns})

    return types.new_class(name, (base,), exec_body=body)


class RollupKey(SQLModel):
    """One sensor's readings in one bucket: their count and (RollupBase) each quantity's min,
    max and sum."""

    sensor_id: str = Field(primary_key=True, max_length=64)
    bucket: int = Field(primary_key=True, sa_type=BigInteger)
    count: int = Field(sa_type=BigInteger)


RollupBase = _with_doubles(RollupKey, "RollupBase", STAT_COLUMNS)


class ReadingsMinute(RollupBase, table=True):
    __tablename__ = "readings_1m"
    __table_args__ = (Index("ix_readings_1m_bucket", "bucket"),)


class ReadingsHour(RollupBase, table=True):
    __tablename__ = "readings_1h"
    __table_args__ = (Index("ix_readings_1h_bucket", "bucket"),)


class SummaryKey(SQLModel):
    """Per sensor: how many readings, the first and last ts, and (SensorSummary) the latest
    reading (the last stored of those at the last ts), so listing sensors never scans raw rows."""

    sensor_id: str = Field(primary_key=True, max_length=64)
    count: int = Field(sa_type=BigInteger)
    first_ts: float = Field(sa_type=Double)
    last_ts: float = Field(sa_type=Double)
    last_seq: int = Field(sa_type=BigInteger)


class SensorSummary(_with_doubles(SummaryKey, "SummaryBase", LATEST_COLUMNS), table=True):
    __tablename__ = "sensor_summary"


# (width in seconds, table), coarsest first
LEVELS: tuple[tuple[int, Any], ...] = ((3600, ReadingsHour.__table__), (60, ReadingsMinute.__table__))


def upsert_statements(dialect: str, source: str) -> list[str]:
    """SQL that merges the rows of `source` (a table name, or a parenthesised SELECT with an
    alias, providing SOURCE_COLUMNS) into both rollups and the summary."""
    return [*(_rollup_upsert(dialect, table.name, width, source) for width, table in LEVELS), _summary(dialect, source)]


_STATS = ", ".join(STAT_COLUMNS)
_OF_ROWS = ", ".join(f"min({q}), max({q}), sum({q})" for q in QUANTITIES)
_OF_ROLLUPS = ", ".join(f"min(min_{q}), max(max_{q}), sum(sum_{q})" for q in QUANTITIES)
_LATEST = ("last_seq", *LATEST_COLUMNS)
DELTA = "rollup_delta"  # SQLite: a batch's new rows per sensor and minute (a temporary table)


def _rollup_upsert(dialect: str, table: str, width: int, source: str) -> str:
    return (
        f"INSERT INTO {table} (sensor_id, bucket, count, {_STATS}) SELECT sensor_id, b, count(*), {_OF_ROWS} "
        f"FROM (SELECT sensor_id, {_bucket(dialect, 'ts', width)} AS b, {', '.join(QUANTITIES)} FROM {source}) AS r "
        f"WHERE true GROUP BY sensor_id, b {_merge_rollup(dialect, table)}"
    )


def _merge_rollup(dialect: str, table: str) -> str:
    least, greatest = _least_greatest(dialect)
    merges = ", ".join(
        f"min_{q} = {least}({table}.min_{q}, excluded.min_{q}), "
        f"max_{q} = {greatest}({table}.max_{q}, excluded.max_{q}), "
        f"sum_{q} = {table}.sum_{q} + excluded.sum_{q}"
        for q in QUANTITIES
    )
    return f"ON CONFLICT (sensor_id, bucket) DO UPDATE SET count = {table}.count + excluded.count, {merges}"


def _summary(dialect: str, source: str) -> str:
    return (
        f"INSERT INTO sensor_summary (sensor_id, count, first_ts, last_ts, {', '.join(_LATEST)}) "
        f"SELECT sensor_id, n, f, ts, seq, {', '.join(QUANTITIES)} FROM ("
        f"SELECT sensor_id, seq, ts, {', '.join(QUANTITIES)}, count(*) OVER w AS n, min(ts) OVER w AS f, "
        "row_number() OVER (PARTITION BY sensor_id ORDER BY ts DESC, id DESC) AS rn "
        f"FROM {source} WINDOW w AS (PARTITION BY sensor_id)) AS latest WHERE rn = 1 {_merge_summary(dialect)}"
    )


def _merge_summary(dialect: str) -> str:
    least, greatest = _least_greatest(dialect)
    newer = "excluded.last_ts >= sensor_summary.last_ts"  # a tie: the later stored wins
    merges = ", ".join(f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE sensor_summary.{c} END" for c in _LATEST)
    return (
        "ON CONFLICT (sensor_id) DO UPDATE SET count = sensor_summary.count + excluded.count, "
        f"first_ts = {least}(sensor_summary.first_ts, excluded.first_ts), "
        f"last_ts = {greatest}(sensor_summary.last_ts, excluded.last_ts), {merges}"
    )


def sqlite_delta_statements(source: str) -> tuple[str, list[str]]:
    """SQLite's cheaper way to the same merge: the new rows are sorted and aggregated once, per
    sensor and minute, into DELTA (the CREATE statement, then the statements of a batch); the
    hours and the summary are merged from that, the latest reading found by index."""
    fill = (
        f"INSERT INTO {DELTA} (sensor_id, bucket, count, min_ts, max_ts, {_STATS}) "
        f"SELECT sensor_id, b, count(*), min(ts), max(ts), {_OF_ROWS} FROM (SELECT sensor_id, "
        f"{_bucket('sqlite', 'ts', 60)} AS b, ts, {', '.join(QUANTITIES)} FROM {source}) AS r GROUP BY sensor_id, b"
    )
    minutes = (
        f"INSERT INTO readings_1m (sensor_id, bucket, count, {_STATS}) SELECT sensor_id, bucket, count, {_STATS} "
        f"FROM {DELTA} WHERE true {_merge_rollup('sqlite', 'readings_1m')}"
    )
    hours = (
        f"INSERT INTO readings_1h (sensor_id, bucket, count, {_STATS}) SELECT sensor_id, "
        f"{_bucket('sqlite', 'bucket', 3600)} AS b, sum(count), {_OF_ROLLUPS} FROM {DELTA} "
        f"WHERE true GROUP BY sensor_id, b {_merge_rollup('sqlite', 'readings_1h')}"
    )
    summary = (
        f"INSERT INTO sensor_summary (sensor_id, count, first_ts, last_ts, {', '.join(_LATEST)}) "
        f"SELECT d.sensor_id, d.n, d.f, d.l, r.seq, {', '.join(f'r.{q}' for q in QUANTITIES)} "
        f"FROM (SELECT sensor_id, sum(count) AS n, min(min_ts) AS f, max(max_ts) AS l FROM {DELTA} "
        "GROUP BY sensor_id) AS d JOIN readings AS r ON r.id = (SELECT id FROM readings "
        "WHERE sensor_id = d.sensor_id AND ts = d.l ORDER BY id DESC LIMIT 1) "
        f"WHERE true {_merge_summary('sqlite')}"
    )
    create = (
        f"CREATE TEMP TABLE IF NOT EXISTS {DELTA} (sensor_id TEXT NOT NULL, bucket INTEGER NOT NULL, "
        "count INTEGER NOT NULL, min_ts REAL NOT NULL, max_ts REAL NOT NULL, "
        + ", ".join(f"{c} REAL NOT NULL" for c in STAT_COLUMNS)
        + ")"
    )
    return create, [fill, minutes, hours, summary, f"DELETE FROM {DELTA}"]


def _bucket(dialect: str, name: str, width: int) -> str:
    """The start of `name`'s bucket of `width` s: floor(name / width) * width, as stats has it."""
    return f"{_sql(dialect, bucket_index(column(name), literal(float(width), Double)))} * {width}"


def _least_greatest(dialect: str) -> tuple[str, str]:
    return ("min", "max") if dialect == "sqlite" else ("least", "greatest")


def _sql(dialect: str, expression: ColumnElement[Any]) -> str:
    compiled = expression.compile(
        dialect=sqlite.dialect() if dialect == "sqlite" else postgresql.dialect(),
        compile_kwargs={"literal_binds": True},
    )
    return str(compiled)


bucket_start = _bucket  # for the write paths' change marks (web_node/write/marks.py)
