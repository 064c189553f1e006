"""The transition outbox: `alert_transitions` in `seq` order, a cursor per sink in `alert_cursor`,
and the lock that lets one web node at a time publish (several may share a database).

A sink reads what is past its cursor, delivers it, then advances the cursor: a crash in between
delivers the same transitions again (same ids), never skips one.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

_PG_LOCK_KEY = 0x7E1E_A1E7  # any constant: the alert publisher's advisory lock
_COLUMNS = "seq, id, rule, sensor_id, severity, from_state, to_state, value, threshold, ts, at, summary"


class Outbox:
    """Reads transitions past a sink's cursor and moves the cursor, through the web node's storage."""

    def __init__(self, storage) -> None:
        self.storage = storage

    async def cursor(self, sink: str) -> int:
        async with self.storage.feeds.connect() as conn:
            found = (
                await conn.execute(text("SELECT seq FROM alert_cursor WHERE sink = :sink"), {"sink": sink})
            ).first()
        return found[0] if found else 0

    async def after(self, seq: int, limit: int = 1000) -> list:
        """Transitions with seq > `seq`, in order, at most `limit` (rows: `seq` first, then the Transition fields)."""
        async with self.storage.feeds.connect() as conn:
            rows = await conn.execute(
                text(f"SELECT {_COLUMNS} FROM alert_transitions WHERE seq > :seq ORDER BY seq LIMIT :limit"),
                {"seq": seq, "limit": limit},
            )
            return list(rows.all())

    async def firing(self) -> list:
        """(rule, sensor_id, since, value, threshold) of every pair firing now."""
        async with self.storage.feeds.connect() as conn:
            rows = await conn.execute(
                text("SELECT rule, sensor_id, since, value, threshold FROM alert_state WHERE state = 'firing'")
            )
            return list(rows.all())

    async def advance(self, sink: str, seq: int) -> None:
        async def write(conn: AsyncConnection) -> None:
            await conn.execute(
                text(
                    "INSERT INTO alert_cursor (sink, seq) VALUES (:sink, :seq) "
                    "ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq WHERE alert_cursor.seq < excluded.seq"
                ),
                {"sink": sink, "seq": seq},
            )

        await self.storage.maintain(write)


class PublisherLock:
    """Held by at most one web node per database: a file lock beside a SQLite file (processes on
    one host), PostgreSQL's session advisory lock on a connection of its own."""

    def __init__(self, database_url: str) -> None:
        self.url = make_url(database_url)
        self._file: int | None = None
        self._engine = None
        self._conn = None

    async def try_acquire(self) -> bool:
        if self.url.get_backend_name() == "sqlite":
            return self._try_file()
        if self._conn is None:
            self._engine = create_async_engine(self.url, poolclass=NullPool)
            self._conn = await self._engine.connect()
        got = (await self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})).scalar()
        await self._conn.commit()
        return bool(got)

    def _try_file(self) -> bool:
        if self._file is None:
            path = Path(f"{self.url.database}.alerts-lock")
            self._file = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    async def release(self) -> None:
        if self._file is not None:
            os.close(self._file)  # closing drops the lock
            self._file = None
        if self._conn is not None:
            await self._conn.close()
            await self._engine.dispose()
            self._conn = self._engine = None
