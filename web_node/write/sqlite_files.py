"""The SQLite database's files are its owner's only (0600): they hold every reading.

SQLite creates the database with the process's umask (0644 under the usual 022), and gives its
`-wal`, `-shm` and `-journal` files the database file's own mode. So the web node creates the
file itself, 0600, before SQLite (or Alembic, through SQLite) opens it, and narrows the files of
a database made by an earlier version, saying so.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

MODE = 0o600
COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_private(url: str) -> None:
    """Create the database file of a SQLite `url` 0600 if it does not exist yet, and narrow it
    and its companions to 0600 if they are open to group or others. Other databases: nothing."""
    path = database_path(url)
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE))
    except FileExistsError:
        pass
    except FileNotFoundError:  # no such directory: SQLite's own error says so when it opens
        return
    for suffix in COMPANIONS:
        _narrow(Path(f"{path}{suffix}"))


def database_path(url: str) -> Path | None:
    """The file of a SQLite URL (also `file:` URIs), or None (another database, or in memory)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename (uri=true): file:path?mode=...
        database, _, options = database[len("file:") :].partition("?")
        if "mode=memory" in options or not database:
            return None
    if parsed.query.get("mode") == "memory":
        return None
    return Path(database)


def _narrow(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        path.chmod(MODE)
    except OSError as exc:
        log.warning("database file %s has mode %o (readable by others) and cannot be narrowed: %s", path, mode, exc)
        return
    log.warning("database file %s had mode %o, open to group or others; it is now %o", path, mode, MODE)
