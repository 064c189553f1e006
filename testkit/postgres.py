"""A throwaway PostgreSQL cluster: `initdb` in a temp dir, listening on a free loopback port only.

Shared by the tests (tests/support/postgres.py makes it a session fixture) and the benchmarks
(`--database postgresql`). It needs PostgreSQL's server binaries (Debian: `apt-get install
postgresql`, which `make sysdeps` does); without them `start_cluster` raises PostgresUnavailable.
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUPERUSER = "telering"
# Speed over durability: the cluster is thrown away after the session.
_SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB"
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why."""


@dataclass
class PostgresCluster:
    bindir: Path
    root: Path
    port: int
    run_as: list[str]  # prefix that runs a server binary as a non-root user, or []
    options: str = ""  # the server's -o options, to start it again after `stop_server`

    @functools.cached_property
    def server_version(self) -> int:
        return int(self.sql("SHOW server_version_num"))

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str) -> str:
        """Run one statement as the superuser through psql over TCP."""
        done = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql {statement!r} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        # PostgreSQL 15+ copies the template through the WAL by default; file copy is faster here
        strategy = " STRATEGY FILE_COPY" if self.server_version >= 150000 else ""
        self.sql(f'CREATE DATABASE "{name}"{strategy}')
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop_server(self) -> None:
        """Stop the server (fast shutdown: connections are cut), keeping its data; `start_server` again."""
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"]
        _as(self.run_as, argv, self.root, "pg_ctl stop")

    def start_server(self) -> None:
        """Start the server stopped by `stop_server`, on the same port."""
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "server.log")]
        _as(self.run_as, [*argv, "-w", "-t", "60", "-o", self.options, "start"], self.root, "pg_ctl start")

    def stop_command(self) -> list[str]:
        return _as_user(
            self.run_as, [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"]
        )

    def stop(self) -> None:
        subprocess.run(self.stop_command(), capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def stop_when_gone(self, pid: int) -> subprocess.Popen:
        """A watcher that stops the cluster if process `pid` dies without tearing down
        (killed, or SIGTERM from a `timeout`), so no server outlives the test run."""
        script = (
            f"while kill -0 {pid} 2>/dev/null; do sleep 1; done; "
            f"{shlex.join(self.stop_command())}; rm -rf {shlex.quote(str(self.root))}"
        )
        return subprocess.Popen(
            ["sh", "-c", script], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


def find_bindir() -> Path | None:
    """PostgreSQL's server binaries: $PG_BINDIR, the newest /usr/lib/postgresql/*/bin, or PATH."""
    candidates = [Path(os.environ["PG_BINDIR"])] if os.environ.get("PG_BINDIR") else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0),
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


def start_cluster(*, attempts: int = 3) -> PostgresCluster:
    """initdb a cluster in a fresh temp dir and start it on a free loopback port."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: "
            "`apt-get install postgresql` (or `make sysdeps`), or set PG_BINDIR"
        )
    run_as, owner = _non_root_runner()
    root = Path(tempfile.mkdtemp(prefix="telering-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    _as(
        run_as,
        [
            str(bindir / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        root,
        "initdb",
    )
    for attempt in range(attempts):
        port = _free_port()
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 {_SERVER_OPTIONS}"
        try:
            _as(
                run_as,
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(root / "data"),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                ],
                root,
                "pg_ctl start",
            )
            return PostgresCluster(bindir, root, port, run_as, options)
        except PostgresUnavailable:
            if attempt == attempts - 1:  # a port race is retried; anything else is reported
                shutil.rmtree(root, ignore_errors=True)
                raise
    raise AssertionError("unreachable")


def _non_root_runner() -> tuple[list[str], pwd.struct_passwd | None]:
    """initdb refuses root: as root, run the server as the `postgres` user the package made."""
    if os.geteuid() != 0:
        return [], None
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root and there is no `postgres` user to run the "
            "server as (Debian's postgresql package creates it)"
        ) from None
    runuser = shutil.which("runuser")
    return ([runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"], owner)


def _as_user(run_as: list[str], argv: list[str]) -> list[str]:
    if run_as and run_as[0] == "su":
        return [*run_as, shlex.join(argv)]
    return [*run_as, *argv]


def _as(run_as: list[str], argv: list[str], cwd: Path, what: str) -> None:
    done = subprocess.run(_as_user(run_as, argv), cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        server_log = cwd / "server.log"
        tail = server_log.read_text(errors="replace")[-2000:] if server_log.exists() else ""
        raise PostgresUnavailable(f"{what} failed ({done.returncode}): {done.stderr.strip()} {tail}".strip())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
