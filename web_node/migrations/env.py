"""Alembic environment for the web node's schema, on SQLite and PostgreSQL (async drivers).

Two ways in: `web_node.write.migrations_runner` hands over an open connection in
`config.attributes["connection"]` (the web node on start, `python -m web_node migrate`), or
the `alembic` command line (`alembic -c web_node/migrations/alembic.ini ...`), for which an
async engine is built from `sqlalchemy.url` or else DATABASE_URL.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import protocol.readings  # noqa: F401  (registers the readings table)
import web_node.alerts.tables
import web_node.write.fence
import web_node.write.marks  # registers the change marks table (web_node.write.fence is imported the same way)
import web_node.write.rollups  # noqa: F401  (registers the rollup and summary tables)
from protocol.settings import Settings

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: later revisions get copy-and-move batches
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_own_engine() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=_url(), target_metadata=target_metadata, literal_binds=True, dialect_opts={"paramstyle": "named"}
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(_run_on_own_engine())


_main()
