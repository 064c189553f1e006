"""The `postgres` image on a namespace host: Debian's PostgreSQL server, initialised the way the
image's entrypoint does on an empty data volume (POSTGRES_USER as the superuser with the password
of POSTGRES_PASSWORD_FILE, POSTGRES_DB created, `listen_addresses='*'`, scram for every host),
then `postgres` in the foreground as the `postgres` user; stopped with SIGINT (the image's
STOPSIGNAL, a fast shutdown)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from testkit.cluster.compose import ComposeError, Service
from testkit.cluster.hostfs import HostFs, Launch


def postgres_launch(service: Service, fs: HostFs) -> Launch:
    """The postgres image's first start (initdb, the user's password, the database), then `postgres`."""
    bindir = pg_bindir()
    if bindir is None:
        raise ComposeError("PostgreSQL server binaries not found (apt-get install postgresql / make sysdeps)")
    env = service.environment
    user = env.get("POSTGRES_USER", "postgres")
    database = env.get("POSTGRES_DB", user)
    password_file = env.get("POSTGRES_PASSWORD_FILE")
    data = fs.path(next(t for t in service.volumes if "postgresql" in t))
    owner = pwd.getpwnam("postgres")
    run_as = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups", "--"]
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        pwfile = data.parent / ".pwfile"
        shutil.copyfile(fs.path(password_file) if password_file else os.devnull, pwfile)
        for path in (data, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        _run(
            [
                *run_as,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                user,
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
            "initdb",
        )
        pwfile.unlink()
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all all scram-sha-256\n")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '*'\nunix_socket_directories = '{data}'\n")
        if database != "postgres":
            _run(
                [*run_as, str(bindir / "postgres"), "--single", "-D", str(data), "postgres"],
                "create database",
                stdin=f'CREATE DATABASE "{database}";\n',
            )
    argv = [*run_as, str(bindir / "postgres"), "-D", str(data)]
    return Launch(argv, {"PATH": f"{bindir}:/usr/bin:/bin", "LANG": "C.UTF-8"}, data, stop_signal="SIGINT")


def pg_bindir() -> Path | None:
    """The newest Debian PostgreSQL server (/usr/lib/postgresql/<major>/bin), or $PG_BINDIR."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]), reverse=True)
    return found[0].parent if found else None


def _run(argv: list[str], what: str, stdin: str | None = None) -> None:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise ComposeError(f"postgres {what} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
