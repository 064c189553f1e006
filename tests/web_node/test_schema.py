"""Alembic migrations on SQLite and PostgreSQL (the throwaway cluster of tests/support/postgres.py):
a new or older database is brought up to date on start; `--no-migrate` refuses one that is not."""

from __future__ import annotations

import asyncio
import logging

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from protocol.readings import Reading, ReadingIn
from tests.support.waiting import async_eventually
from tests.support.web import make_reading
from web_node.__main__ import main
from web_node.write import migrations_runner
from web_node.write.fence import GrantFence
from web_node.write.storage import Storage


async def _with_engine(url: str, work) -> object:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


async def _alembic(engine: AsyncEngine, verb: str, revision: str) -> None:
    def run(conn) -> None:
        config = migrations_runner.alembic_config()
        config.attributes["connection"] = conn
        getattr(command, verb)(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def _schema_diff(engine: AsyncEngine) -> list:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata))


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


def _reading(seq: int) -> ReadingIn:
    return ReadingIn.model_validate(make_reading("sensor-1", seq))


async def test_new_database_is_migrated_to_exactly_the_models(database_url):
    storage = Storage(database_url)
    await storage.open()
    try:
        assert await migrations_runner.current_revision(storage.writer) == migrations_runner.head_revision()
        assert await _schema_diff(storage.writer) == []
        result = await storage.store([_reading(0), _reading(1)], epoch=1, receiver=0)
        assert len(result.stored) == 2
    finally:
        await storage.close()


async def test_database_at_base_is_brought_up_to_date_on_open(database_url):
    storage = Storage(database_url)
    await storage.open()
    await _alembic(storage.writer, "downgrade", "base")
    assert await _tables(storage.writer) <= {"alembic_version"}
    await storage.close()

    again = Storage(database_url)
    await again.open()
    try:
        assert await migrations_runner.current_revision(again.writer) == migrations_runner.head_revision()
        assert {"readings", "grant_fence"} <= await _tables(again.writer)
    finally:
        await again.close()


async def test_database_from_before_migrations_is_adopted_with_its_data(database_url):
    async def legacy(engine: AsyncEngine) -> None:  # what Storage.open() did before Alembic
        tables = [Reading.__table__, GrantFence.__table__]  # all there was then
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: SQLModel.metadata.create_all(c, tables=tables))
            await conn.execute(GrantFence.__table__.insert(), [{"id": 1, "epoch": 7, "receiver": 2, "updated_at": 1.0}])

    await _with_engine(database_url, legacy)
    storage = Storage(database_url)
    await storage.open()
    try:
        assert await migrations_runner.current_revision(storage.writer) == migrations_runner.head_revision()
        assert storage.fence_epoch == 7
        await storage.store([_reading(0)], epoch=8, receiver=0)
        async with storage.reader.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(Reading))).scalar_one() == 1
    finally:
        await storage.close()


async def test_open_without_migrating_refuses_an_empty_database(database_url):
    storage = Storage(database_url)
    try:
        with pytest.raises(migrations_runner.SchemaOutOfDate, match="python -m web_node migrate"):
            await storage.open(migrate=False)
    finally:
        await storage.close()


async def test_database_from_a_newer_telering_is_refused_not_mangled(database_url):
    storage = Storage(database_url)
    await storage.open()
    async with storage.writer.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    await storage.close()

    again = Storage(database_url)
    try:
        with pytest.raises(migrations_runner.SchemaOutOfDate, match="newer telering"):
            await again.open()
        with pytest.raises(migrations_runner.SchemaOutOfDate, match="newer telering"):
            await again.open(migrate=False)
    finally:
        await again.close()


def test_no_migrate_refuses_to_serve_then_migrate_command_fixes_it(database_url, caplog):
    caplog.set_level(logging.INFO, logger="web_node")
    assert main(["--no-migrate", "--database-url", database_url]) == 2
    refusal = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("<empty>" in m and "`python -m web_node migrate`" in m for m in refusal), refusal

    assert main(["migrate", "--database-url", database_url]) == 0
    asyncio.run(migrations_runner.check_url(database_url))  # current now: --no-migrate would serve
    assert main(["--database-url", database_url, "migrate"]) == 0  # idempotent, either option order


def test_concurrent_migrations_in_one_process_do_not_collide(database_url):
    async def two_at_once() -> None:
        await asyncio.gather(migrations_runner.migrate_url(database_url), migrations_runner.migrate_url(database_url))

    asyncio.run(two_at_once())
    asyncio.run(migrations_runner.check_url(database_url))


@pytest.mark.postgres
async def test_a_second_web_node_waits_for_the_first_ones_migration(postgres_database):
    url = postgres_database()
    first = create_async_engine(url, poolclass=NullPool)
    try:
        async with first.connect() as conn:
            trans = await conn.begin()
            await conn.run_sync(migrations_runner._upgrade, "head")  # migrated, lock held, not committed yet
            second = asyncio.create_task(migrations_runner.migrate_url(url))
            await async_eventually(lambda: _waiting_on_advisory_lock(conn), timeout=30)
            assert not second.done()
            await trans.commit()
        assert await asyncio.wait_for(second, 30) == (
            migrations_runner.head_revision(),
            migrations_runner.head_revision(),
        )
    finally:
        await first.dispose()


async def _waiting_on_advisory_lock(conn) -> bool:
    result = await conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))
    return result.scalar_one() == 1
