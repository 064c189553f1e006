"""SQLite write path: one dedicated thread with its own sqlite3 connection.

A batch is one hop to that thread and one transaction there: raise the fence, insert, merge the
newly stored rows into the rollups, commit. Going through aiosqlite instead would cost a thread
hop per statement, and SQLAlchemy's per-row parameter handling costs more than SQLite's insert.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from web_node.write import fence, marks
from web_node.write.rollups import (
    DELTA,
    SOURCE_COLUMNS,
    STORED_COLUMNS,
    bucket_start,
    sqlite_delta_statements,
    stored_values,
)

_INSERT = (
    f"INSERT INTO readings ({', '.join(STORED_COLUMNS)}) VALUES ({', '.join('?' * len(STORED_COLUMNS))}) "
    "ON CONFLICT (sensor_id, seq) DO NOTHING"
)
# the rows this transaction added: SQLite gives new rows ids above the highest before
# NOT INDEXED: the batch's rows by rowid range; left to itself the planner walks the whole
# (sensor_id, ts) index for the GROUP BY's order, a scan of every stored reading per batch
_NEW_ROWS = f"(SELECT {', '.join(SOURCE_COLUMNS)} FROM readings NOT INDEXED WHERE id > ?) AS new_rows"
# the rollups of a batch: fill the delta from the new rows (given the highest id before the
# insert), then merge it into the rollups and the summary
_CREATE_DELTA, (_FILL_DELTA, *_MERGE_DELTA, _CLEAR_DELTA) = sqlite_delta_statements(_NEW_ROWS)
# the hours the batch added to, marked changed for the readers' caches (web_node/write/marks.py)
_MARK_HOURS = marks.bump_from(DELTA, bucket_start("sqlite", "bucket", marks.HOUR_S))


class SqliteWriter:
    """Owns the writer thread and its connection; `close()` ends both."""

    def __init__(self, path: str, pragmas: Sequence[str], *, judge: Callable | None = None) -> None:
        self._path, self._pragmas = path, tuple(pragmas)
        self._judge = judge  # alerting (web_node/alerts/store.py): judges what a batch stored, in its transaction
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None

    async def store(
        self, rows: Sequence[dict[str, Any]], *, epoch: int, receiver: int, now: float
    ) -> tuple[set[tuple[str, int]] | None, list]:
        """Fence, insert, roll up and judge alerts in one transaction; the keys inserted (None if
        all were) and the alert transitions recorded. Raises GrantSuperseded (nothing written) or
        sqlite3.Error (rolled back)."""
        return await self._run(lambda: self._store(rows, epoch, receiver, now))

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    async def _run(self, work: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=True)
            for pragma in self._pragmas:
                conn.execute(f"PRAGMA {pragma}")
            conn.execute(_CREATE_DELTA)
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _store(self, rows: Sequence[dict[str, Any]], epoch: int, receiver: int, now: float):
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted = self._write(conn, rows, epoch, receiver, now)
            transitions = self._judge(conn, rows, inserted, now) if self._judge is not None and rows else []
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return inserted, transitions

    @staticmethod
    def _write(conn: sqlite3.Connection, rows, epoch: int, receiver: int, now: float):
        fence.raise_in_sqlite(conn, epoch=epoch, receiver=receiver, now=now)
        if not rows:
            return set()
        before = conn.execute("SELECT coalesce(max(id), 0) FROM readings").fetchone()[0]
        params = [stored_values(r, now) for r in rows]
        added = conn.executemany(_INSERT, params).rowcount
        if added:
            conn.execute(_FILL_DELTA, (before,))  # the new rows: ids above `before`
            for statement in (*_MERGE_DELTA, _MARK_HOURS, _CLEAR_DELTA):
                conn.execute(statement)
        if added == len(rows):
            return None
        return set(conn.execute("SELECT sensor_id, seq FROM readings WHERE id > ?", (before,)).fetchall())
