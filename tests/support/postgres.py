"""pytest plugin: a throwaway PostgreSQL cluster, and `database_url` over SQLite and PostgreSQL.

The cluster is made by `initdb` in a temp dir and listens on a free loopback port only; it
lives for the session (started on first use) and is removed afterwards. Each test gets a fresh
database. It needs PostgreSQL's server binaries (Debian: `apt-get install postgresql`, which
`make sysdeps` does). Without them the PostgreSQL runs are skipped with the reason — except
under CI=true, where they fail, so a CI machine cannot silently lose them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testkit.postgres import PostgresCluster, PostgresUnavailable, start_cluster

__all__ = ["PostgresCluster", "PostgresUnavailable", "start_cluster"]

log = logging.getLogger(__name__)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's throwaway PostgreSQL cluster (skips, or under CI fails, if impossible)."""
    started = time.monotonic()
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        _unavailable(str(exc))
    log.info(
        "PostgreSQL cluster on 127.0.0.1:%d in %s, up in %.1f s", cluster.port, cluster.root, time.monotonic() - started
    )
    watcher = cluster.stop_when_gone(os.getpid())
    yield cluster
    cluster.stop()
    watcher.kill()
    watcher.wait()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """An async SQLAlchemy URL of a database shared by the session."""
    return postgres_cluster.url(postgres_cluster.create_database("session"))


@pytest.fixture
def postgres_database(postgres_cluster: PostgresCluster) -> Iterator[Callable[[], str]]:
    """Factory: a fresh, empty PostgreSQL database per call, as an async URL; dropped after."""
    made: list[str] = []

    def make() -> str:
        made.append(postgres_cluster.create_database())
        return postgres_cluster.url(made[-1])

    yield make
    for name in made:
        postgres_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The web node's DATABASE_URL, once per backend: a SQLite file in tmp_path, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}"
    return request.getfixturevalue("postgres_database")()
