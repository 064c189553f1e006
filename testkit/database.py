"""Plain synchronous SQL on a pipeline's database, SQLite file or PostgreSQL, for harnesses and
benchmarks (not the web node's code path: they check what it stored)."""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager

import asyncpg
from sqlalchemy.engine import make_url

from testkit.postgres import PostgresCluster, start_cluster


class MissingTable(Exception):
    """The table is not there (yet): the web node has not made its schema."""


def query(url: str, sql: str, params: Sequence[object] = ()) -> list[tuple]:
    """Rows of `sql` (placeholders `?`) on the database of the async SQLAlchemy `url`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        try:
            with closing(sqlite3.connect(parsed.database, timeout=60)) as conn, conn:  # closed, and committed
                return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise MissingTable(str(exc)) from exc
            raise
    return asyncio.run(_postgres(parsed, _numbered(sql), params))


async def _postgres(parsed, sql: str, params: Sequence[object]) -> list[tuple]:
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password, database=parsed.database
    )
    try:
        return [tuple(row) for row in await conn.fetch(sql, *params)]
    except asyncpg.UndefinedTableError as exc:
        raise MissingTable(str(exc)) from exc
    finally:
        await conn.close()


def _numbered(sql: str) -> str:
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


@contextmanager
def postgres_databases() -> Iterator[Callable[[], str]]:
    """A throwaway PostgreSQL cluster, and a factory of fresh databases in it (async URLs); all
    gone afterwards."""
    cluster: PostgresCluster = start_cluster()
    try:
        yield lambda: cluster.url(cluster.create_database("bench"))
    finally:
        cluster.stop()
