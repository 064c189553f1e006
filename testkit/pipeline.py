"""A whole telering pipeline on the session broker: web node and worker processes, one SQLite file.

Secured, if asked: `kafka_env` holds the Kafka client security settings of a SASL_SSL broker
(`LocalKafka.client_env()`: the workers' login), `producer_env` the simulator's own login
where the broker gives producers a principal of their own (ACLs per role), `web_tls` makes the
web node serve HTTPS with a certificate of its own CA, and `read_auth=True` makes reads take the
reader token the harness creates.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy.engine import make_url

from protocol import reader_tokens, token_messages
from protocol.kafka_security import kafka_python_options
from protocol.keys import add_key
from protocol.settings import Settings
from protocol.topics import Topics
from testkit import database, integrity
from testkit.observers import owned
from testkit.processes import ManagedProcess, child_env, free_port, health, python_argv, wait_healthy
from testkit.sampling import ProcessSampler
from testkit.waiting import eventually


@dataclass
class PipelineHarness:
    bootstrap: str
    workdir: Path
    partitions: int = 4
    grant_ttl_s: float = 5.0
    batch_max: int = 5000
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}-")
    processes: list[ManagedProcess] = field(default_factory=list)
    kafka_env: dict[str, str] = field(default_factory=dict)
    producer_env: dict[str, str] = field(default_factory=dict)  # the simulator's, over kafka_env
    web_tls: WebTls | None = None
    read_auth: bool = False
    database_url: str | None = None  # default: a SQLite file in workdir
    rows_before_web: int = 0  # readings stored before the running web node started
    web_env: dict[str, str] = field(default_factory=dict)  # the web node's, over env (e.g. WEB_NODE_PROCESSES)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.topics = Topics.with_prefix(self.prefix)
        self.keys_file = self.workdir / "telering.keys"
        if not self.keys_file.exists():
            add_key(self.keys_file)
        self.db_path = self.workdir / "telering.db"
        self.database_url = self.database_url or f"sqlite+aiosqlite:///{self.db_path}"
        self.web_port = free_port()
        self.web_url = f"{'https' if self.web_tls else 'http'}://127.0.0.1:{self.web_port}"
        self.app_id = f"{self.prefix}app"
        self.readers_file = self.workdir / "telering.readers"
        self.reader_token = reader_tokens.add_reader(self.readers_file, "harness") if self.read_auth else None

    @property
    def kafka_options(self) -> dict[str, Any]:
        """kafka-python connection options for this pipeline's broker (secured or not)."""
        return kafka_python_options(Settings(**{**self.kafka_env, "KAFKA_BOOTSTRAP": self.bootstrap}))

    @property
    def verify(self) -> str | bool:
        """What `requests` verifies the web node with."""
        return str(self.web_tls.ca_file) if self.web_tls else True

    @property
    def read_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.reader_token}"} if self.reader_token else {}

    @property
    def env(self) -> dict[str, str]:
        return child_env(
            {
                **self.kafka_env,
                "KAFKA_BOOTSTRAP": self.bootstrap,
                "DATABASE_URL": self.database_url,
                "TELERING_KEYS_FILE": str(self.keys_file),
                "WEB_NODE_HOST": "127.0.0.1",
                "WEB_NODE_PORT": str(self.web_port),
                "WEB_NODE_URL": self.web_url,
                "READINGS_PARTITIONS": str(self.partitions),
                "GRANT_TTL_S": str(self.grant_ttl_s),
                "BATCH_MAX_READINGS": str(self.batch_max),
                "TELERING_TOPIC_PREFIX": self.prefix,
                "TELERING_APP_ID": self.app_id,
                "TELERING_READERS_FILE": str(self.readers_file),
                "WEB_NODE_READ_AUTH": "required" if self.read_auth else "off",
                **(self.web_tls.env() if self.web_tls else {}),
            }
        )

    @property
    def producer_process_env(self) -> dict[str, str]:
        """The simulator's environment: the pipeline's, with the producers' own Kafka login if given."""
        return {**self.env, **self.producer_env}

    def start_web_node(self, env: dict[str, str] | None = None) -> ManagedProcess:
        """Start a web node; `env` overrides some of its environment."""
        n = sum(p.name.startswith("web") for p in self.processes)
        self.rows_before_web = self.stored()  # what the new web node's stored counter does not count
        argv, log_path = python_argv("web_node"), self.workdir / f"web{n}.log"
        proc = ManagedProcess(f"web{n}", argv, {**self.env, **self.web_env, **(env or {})}, log_path).start()
        self.processes.append(proc)
        wait_healthy(self.web_url, proc, verify=self.verify)
        return proc

    def start_worker(
        self, env: dict[str, str] | None = None, argv: list[str] | None = None, *, own_port: bool = True
    ) -> ManagedProcess:
        """Start a worker; `env` overrides some of its environment (e.g. its WEB_NODE_URL), `argv` its
        command (default `python -m stream_app -l info`). `own_port=False` leaves WORKER_WEB_PORT
        unset, as a user's environment does: the worker picks its port, read from its log."""
        n = sum(p.name.startswith("worker") for p in self.processes)
        port = free_port() if own_port else None
        proc = ManagedProcess(
            f"worker{n}",
            argv or python_argv("stream_app", "-l", "info"),
            {**self.env, **({"WORKER_WEB_PORT": str(port)} if port else {}), **(env or {})},
            self.workdir / f"worker{n}.log",
        )
        self.processes.append(proc.start())
        proc.health_url = f"http://127.0.0.1:{port or self._logged_web_port(proc)}/healthz"
        return proc

    @staticmethod
    def _logged_web_port(proc: ManagedProcess, timeout: float = 60.0) -> int:
        """The port a worker says it took (stream_app/web_port.py logs it once listening)."""

        def logged() -> int | None:
            if not proc.alive:
                raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
            found = re.search(r"Worker web server on http://[^\s:]+:(\d+)", proc.log_text())
            return int(found.group(1)) if found else None

        return eventually(logged, timeout=timeout, message=f"{proc.name} never logged its web port")

    def start(
        self,
        workers: int = 1,
        *,
        worker_argv: list[str] | None = None,
        settle: bool = False,
        sampler: ProcessSampler | None = None,
        timeout: float = 60.0,
    ) -> tuple[ManagedProcess, list[ManagedProcess]]:
        """The pipeline's start-up: the web node, then `workers` workers at once (`worker_argv`: their
        command); returns once each is ready and one leads, with `settle` once every receiver has
        exactly one owner. `sampler` watches the processes from their start."""
        web = self.start_web_node()
        procs = [self.start_worker(argv=worker_argv) for _ in range(workers)]
        if sampler is not None:
            sampler.watch("web", web.pid)
            for i, proc in enumerate(procs):
                sampler.watch(f"worker{i}", proc.pid)
        for proc in procs:
            self.wait_worker_ready(proc, timeout=timeout)
        if settle:
            eventually(
                lambda: self._settled(procs),
                timeout=timeout,
                interval=0.2,
                message="receivers never settled on one owner each",
            )
        return web, procs

    def _settled(self, procs: list[ManagedProcess]) -> bool:
        """Every receiver has exactly one owner (a worker may own none)."""
        owners: list[int] = []
        for proc in procs:
            assert proc.alive, f"{proc.name} exited:\n{proc.log_tail()}"
            partitions = owned(proc)
            if partitions is None:
                return False
            owners += partitions
        return sorted(owners) == list(range(self.partitions))

    def workers(self) -> list[ManagedProcess]:
        return [p for p in self.processes if p.name.startswith("worker")]

    def wait_worker_ready(self, proc: ManagedProcess, timeout: float = 60.0) -> None:
        """Until the worker's /healthz says ready and some worker leads (the coordinator runs)."""

        def ready() -> bool:
            assert proc.alive, f"{proc.name} exited:\n{proc.log_tail()}"
            answer = health(proc)
            if answer is None or answer[0] != 200:
                return False
            return any((h := health(w)) is not None and h[1].get("leader") for w in self.workers())

        eventually(ready, timeout=timeout, interval=0.2, message=f"{proc.name} never became ready")

    def all_worker_logs(self) -> str:
        return "".join(p.log_text() for p in self.processes if p.name.startswith("worker"))

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of `sql` (placeholders `?`) on the web node's database, SQLite or PostgreSQL."""
        return database.query(self.database_url, sql, params)

    def stored(self) -> int:
        if self.database_url.startswith("sqlite") and not self.db_path.exists():
            return 0
        try:
            return self.query("SELECT count(*) FROM readings")[0][0]
        except database.MissingTable:
            return 0

    def stored_keys(self) -> list[tuple[str, int]]:
        return self.query("SELECT sensor_id, seq FROM readings ORDER BY sensor_id, seq")

    def wait_stored(self, n: int, timeout: float = 90.0) -> None:
        try:
            eventually(lambda: self.stored() >= n, timeout=timeout, interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"stored {self.stored()} of {n}\n{self.all_worker_logs()[-3000:]}") from exc

    def doubles(self) -> integrity.Doubles:
        """Every count of stored readings (the web node's, the rollups', the summary's) against the rows."""
        dialect = make_url(self.database_url).get_backend_name()

        def check() -> integrity.Doubles:
            metrics = requests.get(
                f"{self.web_url}/metrics", headers=self.read_headers, verify=self.verify, timeout=10
            ).text
            return integrity.check(self.query, dialect, integrity.stored_counter(metrics), self.rows_before_web)

        return integrity.settled(check)

    def tally(
        self, name: str, summaries: list[dict], recovery_s: float | None = None, evidence: dict | None = None
    ) -> integrity.ScenarioResult:
        """What the simulator runs delivered against what is stored, and every count of it."""
        return integrity.tally(name, summaries, self.stored_keys(), self.doubles(), recovery_s, evidence)

    def token_messages(self) -> list[token_messages.TokenMessage]:
        return [token_messages.decode(v) for v in read_topic(self.bootstrap, self.topics.token, self.kafka_options)]

    def dlq_messages(self) -> list:
        return list(read_records(self.bootstrap, self.topics.dlq, options=self.kafka_options))

    def simulate(self, *args: str, timeout: float = 600) -> dict:
        """Run the real simulator (`python -m simulator`) on this pipeline's topic; its summary."""
        summary_path = self.workdir / f"summary-{len(list(self.workdir.glob('summary-*')))}.json"
        argv = python_argv(
            "simulator",
            "--bootstrap",
            self.bootstrap,
            "--topic",
            self.topics.readings,
            "--partitions",
            str(self.partitions),
            "--summary-json",
            str(summary_path),
            "--quiet",
            *args,
        )
        done = subprocess.run(argv, env=self.producer_process_env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"simulator exited {done.returncode}: {done.stderr[-3000:]}")
        return json.loads(summary_path.read_text())

    def start_simulator(self, *args: str) -> tuple[ManagedProcess, Path]:
        """Start the simulator in the background; returns the process and its summary path."""
        n = sum(p.name.startswith("simulator") for p in self.processes)
        summary_path = self.workdir / f"simulator{n}.json"
        argv = python_argv(
            "simulator",
            "--bootstrap",
            self.bootstrap,
            "--topic",
            self.topics.readings,
            "--partitions",
            str(self.partitions),
            "--summary-json",
            str(summary_path),
            "--quiet",
            *args,
        )
        proc = ManagedProcess(f"simulator{n}", argv, self.producer_process_env, self.workdir / f"simulator{n}.log")
        proc.start()
        self.processes.append(proc)
        return proc, summary_path

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


def read_records(
    bootstrap: str, topic: str, timeout_ms: int = 2000, options: Mapping[str, Any] | None = None
) -> Iterator:
    """Every record of `topic`; `options`: kafka-python connection options of a secured cluster."""
    connection = {k: v for k, v in (options or {}).items() if k != "bootstrap_servers"}
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=timeout_ms,
        **connection,
    )
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        remaining = {tp: end[tp] for tp in tps if end[tp] > 0}
        for record in consumer:
            yield record
            tp = TopicPartition(record.topic, record.partition)
            if record.offset + 1 >= remaining.get(tp, 0):
                remaining.pop(tp, None)
            if not remaining:
                break
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, options: Mapping[str, Any] | None = None) -> list[bytes]:
    return [r.value for r in read_records(bootstrap, topic, options=options)]


@dataclass(frozen=True)
class WebTls:
    """The web node's certificate and key, and the CA file its clients verify it with."""

    cert_file: Path
    key_file: Path
    ca_file: Path

    @classmethod
    def make(cls, directory: Path) -> WebTls:
        """A fresh CA and a certificate for 127.0.0.1 / localhost (kafka_local.certs)."""
        from kafka_local import certs

        directory.mkdir(parents=True, exist_ok=True)
        ca = certs.new_ca("telering web test CA")
        ca.write_pem(directory / "web-ca.crt")
        certs.issue(ca, ["localhost", "127.0.0.1"]).write_pem(directory / "web.crt", directory / "web.key")
        return cls(directory / "web.crt", directory / "web.key", directory / "web-ca.crt")

    def env(self) -> dict[str, str]:
        return {
            "WEB_NODE_TLS_CERT": str(self.cert_file),
            "WEB_NODE_TLS_KEY": str(self.key_file),
            "WEB_NODE_CA_FILE": str(self.ca_file),
        }
