"""Change marks: every write sets, for each hour of reading time it changed, `change_marks.mark`
to one more than the highest mark, in its own transaction (migration 0004).

Readers poll the table (web_node/read/stats_cache.py): a cached stats piece of an hour whose mark
moved past the piece's is dropped, and every read answer's ETag names the marks it was read at.
The marks live in the database, so every web node process, and every host on PostgreSQL, sees
every other's writes. Marks follow commit order: SQLite has one writer, PostgreSQL's batches are
serialised by the fence row and retention's bumps take the same advisory lock as a batch's.
"""

from __future__ import annotations

import math

from sqlalchemy import BigInteger, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field, SQLModel

HOUR_S = 3600
TABLE = "change_marks"
# PostgreSQL: writers of marks take this transaction-scoped advisory lock first
PG_LOCK = "SELECT pg_advisory_xact_lock(7346126571)"


class ChangeMark(SQLModel, table=True):
    """The last change to the readings of one hour (`hour`: the unix second it starts at)."""

    __tablename__ = TABLE
    hour: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    mark: int = Field(sa_type=BigInteger, index=True)


_NEXT = f"(SELECT coalesce(max(mark), 0) + 1 FROM {TABLE})"
_UPSERT = "ON CONFLICT (hour) DO UPDATE SET mark = excluded.mark"


def bump_from(source: str, hour: str) -> str:
    """SQL that marks every hour `hour` (an expression over `source`'s rows) takes."""
    return f"INSERT INTO {TABLE} (hour, mark) SELECT DISTINCT {hour}, {_NEXT} FROM {source} WHERE true {_UPSERT}"


async def bump(conn: AsyncConnection, low: float, high: float) -> None:
    """Mark every hour from the one holding `low` to the one holding `high` (unix seconds)
    changed, in `conn`'s transaction."""
    first, last = (math.floor(t / HOUR_S) * HOUR_S for t in (low, high))
    starts = range(first, last + HOUR_S, HOUR_S)
    if conn.dialect.name == "postgresql":
        await conn.execute(text(PG_LOCK))
    mark = (await conn.execute(text(f"SELECT {_NEXT}"))).scalar_one()
    await conn.execute(
        text(f"INSERT INTO {TABLE} (hour, mark) VALUES (:hour, :mark) {_UPSERT}"),
        [{"hour": h, "mark": mark} for h in starts],
    )
