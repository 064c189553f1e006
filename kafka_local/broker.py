"""A real single-node KRaft Apache Kafka broker, run as a child JVM for tests and the demo.

``broker_from_env`` / ``kafka_from_env`` use ``KAFKA_BOOTSTRAP`` instead when it is set.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kafka_local import reaper
from kafka_local.admin import broker_answers, wait_for_broker
from kafka_local.certs import write_private
from kafka_local.config import free_ports, random_cluster_id, server_properties
from kafka_local.jars import KafkaJars, resolve
from kafka_local.secure import ADMIN_USER, LISTENER, USERS, BrokerSecurity
from protocol.kafka_acls import EVERY_ROLE, Principals, create_acls, role_acls
from protocol.settings import Settings

log = logging.getLogger(__name__)

_POLL_S = 0.2
_TAIL_LINES = 40


class BrokerError(RuntimeError):
    """The local broker failed to start, died, or was used while not running."""


class LocalKafka:
    """One broker+controller in ``workdir`` (config, ``data/``, ``broker.log``).

    Ports are picked on the first start (unless given) and kept for restarts, so
    ``bootstrap`` never changes for the life of the object. With ``security="SASL_SSL"`` the
    broker also listens on a SASL_SSL port (its certificate and SCRAM users made in
    ``workdir/secrets``, see kafka_local.secure); ``bootstrap`` is then that listener and
    ``client_env()`` the settings a client needs for it. ``version`` picks the Kafka release
    (default: ``KAFKA_VERSION`` from the environment, else kafka_local.jars.KAFKA_VERSION).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = "512m",
        overrides: Mapping[str, str] | None = None,
        security: str = "PLAINTEXT",
        secure_port: int | None = None,
        version: str | None = None,
    ) -> None:
        if security not in ("PLAINTEXT", LISTENER):
            raise BrokerError(f"security must be PLAINTEXT or {LISTENER}, not {security!r}")
        self.workdir = Path(workdir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.secure_port = secure_port
        self.security = BrokerSecurity.ensure(self.workdir / "secrets") if security == LISTENER else None
        self.heap = heap
        self.version = version
        self.overrides = dict(overrides or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:<port>`` of the client listener: SASL_SSL if secured, else PLAINTEXT."""
        if self.security is None:
            return self.plaintext_bootstrap
        if self.secure_port is None:
            raise BrokerError("broker has no port yet: call start() first")
        return f"127.0.0.1:{self.secure_port}"

    @property
    def plaintext_bootstrap(self) -> str:
        """``127.0.0.1:<port>`` of the PLAINTEXT listener (inter-broker, and every client if not secured)."""
        if self.port is None:
            raise BrokerError("broker has no port yet: call start() first")
        return f"127.0.0.1:{self.port}"

    def grant_roles(self, settings: Settings, principals: Principals = EVERY_ROLE) -> int:
        """Create the role ACLs (protocol/kafka_acls.py) of the deployment `settings` names
        (TELERING_TOPIC_PREFIX, TELERING_APP_ID) as the super user `admin`; secured brokers only."""
        if self.security is None:
            raise BrokerError("a PLAINTEXT broker has no authorizer: start it with security='SASL_SSL'")
        return create_acls(Settings(**self.client_env(ADMIN_USER)), role_acls(settings, principals))

    def client_env(self, user: str | None = None) -> dict[str, str]:
        """Environment for a telering part to reach this broker (KAFKA_BOOTSTRAP and, if secured,
        KAFKA_SECURITY_PROTOCOL, the SASL user with a password file, the CA file)."""
        if self.security is None:
            return {"KAFKA_BOOTSTRAP": self.bootstrap}
        return self.security.client_env(self.bootstrap, *([user] if user else []))

    @property
    def log_path(self) -> Path:
        return self.workdir / "broker.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    def start(self, timeout: float = 90.0) -> None:
        """Launch the broker and return once it answers metadata requests."""
        if self.running:
            raise BrokerError(f"broker already running at {self.bootstrap}")
        deadline = time.monotonic() + timeout
        self._assign_ports()
        jars = resolve(self.version)
        config = self._write_config(jars)
        if not (self.workdir / "data" / "meta.properties").exists():
            self._format(jars, config)
        self._launch(jars, config)
        try:
            self._wait_ready(deadline, timeout)
        except BaseException:
            self.kill()
            raise
        log.info("Kafka broker ready at %s (pid %s)", self.bootstrap, self.pid)
        if self.security is not None:
            log.info(
                "  SASL_SSL with StandardAuthorizer ACLs, SCRAM users %s, CA %s",
                ", ".join(u for u in self.security.passwords if u in USERS),
                self.security.ca_file,
            )

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the broker (a clean shutdown); SIGKILL it if it outlasts ``timeout``."""
        if self.running:
            assert self._proc is not None
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("Broker %s ignored SIGTERM for %gs: killing it", self.pid, timeout)
                self._proc.kill()
                self._proc.wait()
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL the broker at once (a crash, for fault tests)."""
        if self.running:
            assert self._proc is not None
            self._proc.kill()
            self._proc.wait()
        self._cleanup()

    def restart(self, timeout: float = 90.0) -> None:
        """Stop, then start again on the same data directory and ports."""
        self.stop()
        self.start(timeout)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the broker process to exit; its exit code, or None on timeout."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last ``lines`` lines of ``broker.log``."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no broker.log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LocalKafka:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _assign_ports(self) -> None:
        if self.port is None or self.controller_port is None or self.secure_port is None:
            taken = {p for p in (self.port, self.controller_port, self.secure_port) if p is not None}
            candidates = [p for p in free_ports(4) if p not in taken]
            self.port = self.port or candidates.pop(0)
            self.controller_port = self.controller_port or candidates.pop(0)
            if self.security is not None:
                self.secure_port = self.secure_port or candidates.pop(0)

    def _write_config(self, jars: KafkaJars) -> Path:
        assert self.port is not None and self.controller_port is not None
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        path = self.workdir / "server.properties"
        # 0600 from its creation: with --secure it holds the keystore's and the brokers' passwords
        write_private(
            path,
            server_properties(
                port=self.port,
                controller_port=self.controller_port,
                data_dir=self.workdir / "data",
                overrides=self.overrides,
                secure_port=self.secure_port,
                security=self.security.server_properties() if self.security else None,
                kafka_major=jars.major,
            ).encode(),
        )
        return path

    def _java(self, heap: str, jars: KafkaJars) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java:
            raise BrokerError("java not found: install a JDK (17+) or set JAVA_HOME")
        return [
            java,
            f"-Xmx{heap}",
            f"-Xms{heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.workdir / 'logs'}",
            *jars.logging_options(),
            "-cp",
            jars.classpath,
        ]

    def _format(self, jars: KafkaJars, config: Path) -> None:
        java, *options = self._java("256m", jars)
        arguments = [
            *options,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            random_cluster_id(),
            "-c",
            str(config),
            *(self.security.format_arguments() if self.security else []),
        ]
        # the SCRAM users' passwords must not be on a command line (`ps` shows it to every local
        # user): the JVM reads its arguments from a 0600 file, removed once formatted
        argfile = self.workdir / "format.args"
        write_private(argfile, "\n".join(_java_quoted(a) for a in arguments).encode())
        try:
            with self.log_path.open("ab") as out:
                rc = subprocess.run(
                    [java, f"@{argfile}"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
                ).returncode
        finally:
            argfile.unlink(missing_ok=True)
        if rc != 0:
            raise BrokerError(f"formatting {self.workdir / 'data'} failed (exit {rc}):\n{self.log_tail()}")

    def _launch(self, jars: KafkaJars, config: Path) -> None:
        cmd = [*self._java(self.heap, jars), "kafka.Kafka", str(config)]
        self._log = self.log_path.open("ab")
        # New session: a terminal's Ctrl-C reaches only us, and we stop the broker cleanly.
        self._proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,
            preexec_fn=reaper.die_with_parent_hook(),
        )
        reaper.track(self)
        log.info("Started Kafka %s broker pid %d in %s", jars.version, self._proc.pid, self.workdir)

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        while not broker_answers(self.plaintext_bootstrap, timeout=2.0):
            if (rc := self.wait(_POLL_S)) is not None:
                raise BrokerError(
                    f"Kafka broker exited with code {rc} during start-up; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"Kafka broker not ready at {self.bootstrap} after {timeout:g}s;"
                    f" last lines of {self.log_path}:\n{self.log_tail()}"
                )

    def _cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        reaper.untrack(self)


def _java_quoted(argument: str) -> str:
    """One argument of a java @argfile: quoted, with backslashes and quotes escaped."""
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class KafkaHandle:
    """Where to reach Kafka; ``broker`` is the LocalKafka we started, or None if external."""

    bootstrap: str
    broker: LocalKafka | None = None


@contextmanager
def kafka_from_env(
    workdir: Path, *, timeout: float = 90.0, environ: Mapping[str, str] | None = None
) -> Iterator[KafkaHandle]:
    """Yield a handle on an external broker (``KAFKA_BOOTSTRAP``) or on a fresh local one."""
    external = (os.environ if environ is None else environ).get("KAFKA_BOOTSTRAP")
    if external:
        log.info("Using external Kafka at %s", external)
        wait_for_broker(external, timeout)
        yield KafkaHandle(external)
        return
    broker = LocalKafka(workdir)
    broker.start(timeout)
    try:
        yield KafkaHandle(broker.bootstrap, broker)
    finally:
        broker.stop()


@contextmanager
def broker_from_env(workdir: Path, *, timeout: float = 90.0, environ: Mapping[str, str] | None = None) -> Iterator[str]:
    """Like :func:`kafka_from_env`, yielding just the bootstrap address."""
    with kafka_from_env(workdir, timeout=timeout, environ=environ) as handle:
        yield handle.bootstrap
