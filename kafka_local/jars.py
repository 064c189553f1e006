"""Find the jars of an Apache Kafka broker: ``$KAFKA_HOME/libs`` or a Maven-filled cache.

The cache is filled once by ``mvn dependency:copy-dependencies`` on the ``pom.xml`` shipped
with this package; a marker file holding the pom's hash says the copy finished, so later runs
need neither Maven nor the network.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

KAFKA_VERSION = "3.9.1"
MARKER = ".complete"
_KAFKA_JAR = f"kafka_2.13-{KAFKA_VERSION}.jar"


class JarsError(RuntimeError):
    """The broker's jars could not be found or fetched."""


def kafka_classpath() -> str:
    """Return a ``java -cp`` value holding every jar the broker needs."""
    return str(resolve_lib_dir() / "*")


def resolve_lib_dir() -> Path:
    """Return a directory of broker jars, fetching them through Maven if needed."""
    home = os.environ.get("KAFKA_HOME")
    if home:
        return _kafka_home_libs(Path(home))
    lib = cache_lib_dir()
    if not _is_complete(lib):
        fetch(lib)
    return lib


def cache_lib_dir() -> Path:
    """Where the Maven-fetched jars live (``TELERING_KAFKA_CACHE`` overrides)."""
    override = os.environ.get("TELERING_KAFKA_CACHE")
    if override:
        return Path(override).expanduser().resolve()
    repo = _repo_root()
    if repo is not None:
        base = repo / ".cache"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "telering"
    return base / f"kafka-{KAFKA_VERSION}" / "lib"


def fetch(lib: Path) -> None:
    """Copy the broker's runtime jars into ``lib`` (atomically; offline first if possible)."""
    lib.parent.mkdir(parents=True, exist_ok=True)
    with _locked(lib.parent / ".lock"):
        if _is_complete(lib):
            return
        staging = Path(tempfile.mkdtemp(prefix="lib.", dir=lib.parent))
        try:
            _copy_dependencies(staging)
            (staging / MARKER).write_text(_pom_digest() + "\n")
            shutil.rmtree(lib, ignore_errors=True)
            staging.rename(lib)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("Kafka %s jars ready in %s", KAFKA_VERSION, lib)


def _kafka_home_libs(home: Path) -> Path:
    libs = home / "libs"
    if not any(libs.glob("kafka_2.1*.jar")):
        raise JarsError(f"KAFKA_HOME={home} has no Kafka jars in {libs}")
    return libs


def _repo_root() -> Path | None:
    """The checkout this package sits in, or None when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    if (root / "setup.cfg").is_file() and (root / ".git").exists():
        return root
    return None


def _is_complete(lib: Path) -> bool:
    marker = lib / MARKER
    if not marker.is_file() or not (lib / _KAFKA_JAR).is_file():
        return False
    return marker.read_text().strip() == _pom_digest()


def _pom_text() -> str:
    return resources.files("kafka_local").joinpath("pom.xml").read_text()


def _pom_digest() -> str:
    return hashlib.sha256(_pom_text().encode()).hexdigest()


def _copy_dependencies(dest: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarsError("Maven (mvn) is not on PATH: install it or set KAFKA_HOME")
    with tempfile.TemporaryDirectory(prefix="telering-pom.") as project:
        pom = Path(project) / "pom.xml"
        pom.write_text(_pom_text())
        base = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={dest}",
            "-DincludeScope=runtime",
        ]
        if _in_local_repo() and _run_mvn([base[0], "-o", *base[1:]], logging.DEBUG) == 0:
            return
        log.info("Fetching Kafka %s jars through Maven Central (first run only)", KAFKA_VERSION)
        if _run_mvn(base, logging.ERROR) != 0:
            raise JarsError(f"mvn could not fetch Kafka {KAFKA_VERSION} jars (see log above)")


def _in_local_repo() -> bool:
    """Whether ~/.m2 already holds the Kafka artifact, so an offline attempt may succeed."""
    artifact = Path.home() / ".m2/repository/org/apache/kafka/kafka_2.13" / KAFKA_VERSION
    return artifact.is_dir()


def _run_mvn(cmd: list[str], failure_level: int) -> int:
    """Run Maven; on failure log its output's tail at ``failure_level``."""
    log.debug("Running %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        log.log(
            failure_level,
            "%s failed (exit %d):\n%s",
            " ".join(cmd[:3]),
            proc.returncode,
            (proc.stdout + proc.stderr)[-4000:],
        )
    return proc.returncode


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``, so concurrent fetches do not race."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
