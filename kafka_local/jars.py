"""Find the jars of an Apache Kafka broker: ``$KAFKA_HOME/libs`` or a Maven-filled cache.

Kafka 4.x by default; ``KAFKA_VERSION`` (e.g. ``3.9.1``) selects another release, each in its
own cache directory. The cache is filled once by ``mvn dependency:copy-dependencies`` on the pom
shipped with this package for that major version (Kafka 3 logs through log4j 1 (reload4j),
Kafka 4 through log4j 2); a marker file holding the pom's hash says the copy finished, so later
runs need neither Maven nor the network.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.2"  # the default; KAFKA_VERSION in the environment selects another
MARKER = ".complete"
_VERSION = re.compile(r"([34])\.\d+\.\d+")
_LOGGING_CONFIG = {3: "log4j.properties", 4: "log4j2.properties"}


class JarsError(RuntimeError):
    """The broker's jars could not be found or fetched."""


@dataclass(frozen=True)
class KafkaJars:
    """A directory of one Kafka release's broker jars, and how that release's JVM logs."""

    version: str
    lib: Path

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def classpath(self) -> str:
        """A ``java -cp`` value holding every jar the broker needs."""
        return str(self.lib / "*")

    def logging_options(self) -> list[str]:
        """The JVM flag that points this release's log4j at the broker logging config shipped
        here (console at INFO: the launcher's ``broker.log``); without it log4j 2 logs only errors."""
        config = Path(__file__).with_name(_LOGGING_CONFIG[self.major])
        if self.major == 3:
            return [f"-Dlog4j.configuration=file:{config}"]
        return [f"-Dlog4j2.configurationFile={config}"]


def kafka_version(environ: dict[str, str] | None = None) -> str:
    """The Kafka release to run: ``KAFKA_VERSION`` from the environment, else the default."""
    value = (os.environ if environ is None else environ).get("KAFKA_VERSION", "").strip() or KAFKA_VERSION
    if not _VERSION.fullmatch(value):
        raise JarsError(f"KAFKA_VERSION={value!r} is not a Kafka 3.x.y or 4.x.y release (default {KAFKA_VERSION})")
    return value


def kafka_classpath(version: str | None = None) -> str:
    """Return a ``java -cp`` value holding every jar the broker needs."""
    return resolve(version).classpath


def resolve_lib_dir(version: str | None = None) -> Path:
    """Return a directory of broker jars, fetching them through Maven if needed."""
    return resolve(version).lib


def resolve(version: str | None = None) -> KafkaJars:
    """The broker's jars: ``$KAFKA_HOME/libs`` (whatever release it holds), else ``version``
    (default: ``kafka_version()``) from the Maven-filled cache, fetched if needed."""
    home = os.environ.get("KAFKA_HOME")
    if home:
        return _kafka_home_jars(Path(home))
    version = version or kafka_version()
    if not _VERSION.fullmatch(version):
        raise JarsError(f"{version!r} is not a Kafka 3.x.y or 4.x.y release")
    lib = cache_lib_dir(version)
    if not _is_complete(lib, version):
        fetch(lib, version)
    return KafkaJars(version, lib)


def cache_lib_dir(version: str | None = None) -> Path:
    """Where the Maven-fetched jars of ``version`` live (``TELERING_KAFKA_CACHE`` overrides the base)."""
    version = version or kafka_version()
    override = os.environ.get("TELERING_KAFKA_CACHE")
    if override:
        base = Path(override).expanduser().resolve()
    elif (repo := _repo_root()) is not None:
        base = repo / ".cache"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "telering"
    return base / f"kafka-{version}" / "lib"


def fetch(lib: Path, version: str | None = None) -> None:
    """Copy the broker's runtime jars into ``lib`` (atomically; offline first if possible)."""
    version = version or kafka_version()
    lib.parent.mkdir(parents=True, exist_ok=True)
    with _locked(lib.parent / ".lock"):
        if _is_complete(lib, version):
            return
        staging = Path(tempfile.mkdtemp(prefix="lib.", dir=lib.parent))
        try:
            _copy_dependencies(staging, version)
            (staging / MARKER).write_text(_pom_digest(version) + "\n")
            shutil.rmtree(lib, ignore_errors=True)
            staging.rename(lib)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("Kafka %s jars ready in %s", version, lib)


def _kafka_home_jars(home: Path) -> KafkaJars:
    libs = home / "libs"
    for jar in libs.glob("kafka_2.1*-*.jar"):
        found = re.fullmatch(r"kafka_2\.1\d-(([34])\.\d+\.\d+)\.jar", jar.name)
        if found:
            return KafkaJars(found.group(1), libs)
    raise JarsError(f"KAFKA_HOME={home} has no Kafka 3.x or 4.x broker jar (kafka_2.13-<version>.jar) in {libs}")


def _repo_root() -> Path | None:
    """The checkout this package sits in, or None when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    if (root / "setup.cfg").is_file() and (root / ".git").exists():
        return root
    return None


def _is_complete(lib: Path, version: str) -> bool:
    marker = lib / MARKER
    if not marker.is_file() or not (lib / f"kafka_2.13-{version}.jar").is_file():
        return False
    return marker.read_text().strip() == _pom_digest(version)


def _pom_text(version: str) -> str:
    template = resources.files("kafka_local").joinpath(f"pom-kafka{version.split('.')[0]}.xml").read_text()
    return template.replace("@KAFKA_VERSION@", version)


def _pom_digest(version: str) -> str:
    return hashlib.sha256(_pom_text(version).encode()).hexdigest()


def _copy_dependencies(dest: Path, version: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarsError("Maven (mvn) is not on PATH: install it or set KAFKA_HOME")
    with tempfile.TemporaryDirectory(prefix="telering-pom.") as project:
        pom = Path(project) / "pom.xml"
        pom.write_text(_pom_text(version))
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
        if _in_local_repo(version) and _run_mvn([base[0], "-o", *base[1:]], logging.DEBUG) == 0:
            return
        log.info("Fetching Kafka %s jars through Maven Central (first run only)", version)
        if _run_mvn(base, logging.ERROR) != 0:
            raise JarsError(f"mvn could not fetch Kafka {version} jars (see log above)")


def _in_local_repo(version: str) -> bool:
    """Whether ~/.m2 already holds the Kafka artifact, so an offline attempt may succeed."""
    artifact = Path.home() / ".m2/repository/org/apache/kafka/kafka_2.13" / version
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
