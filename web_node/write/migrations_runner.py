"""The database schema's version: bring it up to date with Alembic, or check that it is.

The migrations live in `web_node/migrations` (shipped in the package). They run on the
caller's async engine through `run_sync`, so the event loop keeps serving the driver's I/O.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from web_node.write import sqlite_files

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"  # web_node/migrations, where alembic.ini is
MIGRATE_COMMAND = "python -m web_node migrate"  # also `telering-web-node migrate`
# The revision equal to the schema that SQLModel's create_all made before migrations existed.
PRE_MIGRATIONS_REVISION = "0001"
# Any constant: serialises concurrent migrations by several web nodes on one PostgreSQL.
_PG_LOCK_KEY = 0x7E1E_0001
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


class SchemaOutOfDate(Exception):
    """The database is not at the schema this web node needs, and it may not migrate it."""

    def __init__(self, current: str | None, head: str, *, unknown: bool = False) -> None:
        if unknown:  # written by a newer telering: migrating cannot help, upgrading telering can
            message = (
                f"database schema is at revision {current}, which this web node does not know "
                f"(it needs {head}): was it migrated by a newer telering?"
            )
        else:
            message = (
                f"database schema is at revision {current or '<empty>'}, this web node needs "
                f"{head}; run `{MIGRATE_COMMAND}` with the same DATABASE_URL (or start "
                f"without --no-migrate)"
            )
        super().__init__(message)
        self.current = current
        self.head = head


def alembic_config() -> Config:
    """An Alembic config for the packaged migrations; no ini file needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Bring the database to `revision` in one transaction; returns the revision it was at.

    Several web nodes may start at once: a database lock serialises them (the later ones then
    find nothing to do), and within one process a lock does, as Alembic's context is global."""
    async with _process_lock(), engine.begin() as conn:
        return await conn.run_sync(_upgrade, revision)


async def require_current(engine: AsyncEngine) -> None:
    """Raise SchemaOutOfDate unless the database is at the newest revision."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutOfDate(current, head, unknown=not _known(current))


async def migrate_url(url: str) -> tuple[str | None, str]:
    """`python -m web_node migrate`: upgrade the database at `url`; (before, after) revisions."""
    sqlite_files.make_private(url)
    engine = _engine(url)
    try:
        before = await upgrade(engine)
    finally:
        await engine.dispose()
    return before, head_revision()


async def check_url(url: str) -> None:
    """`--no-migrate`: raise SchemaOutOfDate unless the database at `url` is current.

    A SQLite file that does not exist is reported as empty, not created."""
    parsed = make_url(url)
    is_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if is_file and not Path(parsed.database).exists():
        raise SchemaOutOfDate(None, head_revision())
    engine = _engine(url)
    try:
        await require_current(engine)
    finally:
        await engine.dispose()


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _known(revision: str | None) -> bool:
    if revision is None:
        return True
    scripts = ScriptDirectory.from_config(alembic_config())
    return revision in {script.revision for script in scripts.walk_revisions()}


def _engine(url: str) -> AsyncEngine:
    sqlite = make_url(url).get_backend_name() == "sqlite"
    return create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 30} if sqlite else {})


def _process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if loop not in _LOCKS:
        _LOCKS[loop] = asyncio.Lock()
    return _LOCKS[loop]


def _lock_database(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # the driver would only BEGIN before DML; this makes the DDL transactional and exclusive
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _upgrade(conn: Connection, revision: str) -> str | None:
    _lock_database(conn)
    config = alembic_config()
    config.attributes["connection"] = conn
    before = _current(conn)
    if not _known(before):
        raise SchemaOutOfDate(before, head_revision(), unknown=True)
    if before is None and inspect(conn).has_table("readings"):
        log.info("database predates migrations: stamping it at revision %s", PRE_MIGRATIONS_REVISION)
        command.stamp(config, PRE_MIGRATIONS_REVISION)
        before = PRE_MIGRATIONS_REVISION
    command.upgrade(config, revision)
    after = _current(conn)
    if after != before:
        log.info("database schema migrated from %s to %s", before or "<empty>", after)
    return before
