"""The web node's one storage error, and the one place a database driver's errors become it
(cf. httpx's `map_exceptions`): `with storage_errors("read"): ...`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

# What the drivers raise when the database is unusable: SQLAlchemy's wrappers (of aiosqlite's
# and asyncpg's errors, through an engine) and sqlite3's (the SQLite writer thread's own)
DRIVER_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, sqlite3.Error)


class StorageError(Exception):
    """The database could not do what was asked (unreachable, gone, full, locked, ...)."""


@contextmanager
def storage_errors(doing: str, *driver: type[BaseException], connecting: bool = True) -> Iterator[None]:
    """Re-raise a driver's error as StorageError("database <doing> failed: ..."), the driver's
    error as its cause.

    `driver`: the errors of a driver used directly, past SQLAlchemy (asyncpg's, in
    `web_node.write.storage_pg`). `connecting`: OSError too (asyncpg's refused connection, a
    full disk), right around database calls; wrong around a whole request, where a client's
    dropped connection is an OSError as well."""
    errors = (*DRIVER_ERRORS, *driver, *((OSError,) if connecting else ()))
    try:
        yield
    except errors as exc:
        raise StorageError(f"database {doing} failed: {describe(exc)}") from exc


def describe(exc: BaseException) -> str:
    """The driver's own error in one short line (never SQLAlchemy's statement and parameters)."""
    if isinstance(exc, StorageError) and exc.__cause__ is not None:
        exc = exc.__cause__
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    text = lines[0][:200] if lines else ""
    return f"{type(orig).__name__}: {text}" if text else type(orig).__name__
