"""`/healthz` within its deadline when the database does not answer: 503 with the reason, then
ready again (issue 11, web node edges).

Needs the session's PostgreSQL (tests/support/postgres.py): another session holds an ACCESS
EXCLUSIVE lock on the fence table, so the probe's query waits for real. (SQLite cannot be made
to hang a reader in WAL mode: a reader never waits, and no connection can lock out the others.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.waiting import async_eventually
from web_node.health import HEALTH_DEADLINE_S


@pytest.fixture
def database_url(postgres_database: Callable[[], str]) -> str:
    return postgres_database()


async def health(http, node) -> tuple[int, dict]:
    async with http.get(f"{node.url}/healthz") as r:
        return r.status, await r.json()


async def test_healthz_is_503_within_its_deadline_while_the_database_does_not_answer(
    web_node_factory, http, database_url
):
    node = await web_node_factory()
    assert (await health(http, node))[0] == 200
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("LOCK TABLE grant_fence IN ACCESS EXCLUSIVE MODE"))
            began = time.perf_counter()
            status, body = await health(http, node)
            waited = time.perf_counter() - began
            assert (status, body["status"], body["database"]) == (503, "unavailable", "unreachable")
            assert body["reason"] == f"the database did not answer within {HEALTH_DEADLINE_S:g} s"
            assert waited >= HEALTH_DEADLINE_S  # it did wait for the database, up to the deadline
            # the first query is still waiting: the next probes wait on it too instead of adding one each
            answers = await asyncio.gather(*(health(http, node) for _ in range(5)))
            assert {(status, body["reason"]) for status, body in answers} == {(503, body["reason"])}
            waiting = await conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT epoch FROM grant_fence'")
            )
            assert waiting.scalar_one() == 1
            await conn.rollback()
        # the lock is gone: ready again without a restart
        await async_eventually(lambda: _ready(http, node), timeout=30)
    finally:
        await engine.dispose()


async def _ready(http, node) -> bool:
    return (await health(http, node))[0] == 200
