"""Looking at a running cluster from the machine, as an operator would: Kafka through the
published EXTERNAL listeners (SASL_SSL as `admin`, the brokers' super user: the observer reads
topic configurations, consumer-group offsets and the token topic, more than any one role's ACLs
allow), the web node through its published HTTPS port (the balancer), each web node replica at
its host's address, PostgreSQL at its host's address (psql, the `telering` user's password)."""

from __future__ import annotations

import os
import ssl
import subprocess
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from protocol.kafka_security import kafka_python_options
from protocol.settings import Settings
from testkit.cluster import netns
from testkit.cluster.cluster import Cluster
from testkit.cluster.hosts import Host
from testkit.cluster.postgres_image import pg_bindir

READINGS = "readings"
T = TypeVar("T")


class ClusterView:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        secrets = cluster.secrets_dir
        external = [p for b in cluster.brokers() for p, _ in b.service.ports]
        self.bootstrap = ",".join(f"{netns.GATEWAY}:{port}" for port in external)
        self.kafka_env = {
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": "admin",
            "KAFKA_SASL_PASSWORD_FILE": str(secrets / "kafka_admin_password"),
            "KAFKA_SSL_CAFILE": str(secrets / "ca.crt"),
        }
        self.options: dict[str, Any] = kafka_python_options(Settings(**self.kafka_env))
        web_port = next(p for p, _ in cluster.replicas("web-node")[0].service.ports)
        self.web_url = f"https://{netns.GATEWAY}:{web_port}"  # the balancer, as dashboards reach it
        self.web_port = int(self.web_nodes()[0].service.environment["WEB_NODE_PORT"])
        self.ca_file = str(secrets / "ca.crt")
        self._admin: KafkaAdminClient | None = None

    # --- Kafka --------------------------------------------------------------------------------
    @property
    def admin(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = KafkaAdminClient(**self.options, request_timeout_ms=15_000)
        return self._admin

    def close(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except KafkaError:
                pass
            self._admin = None

    def _ask(self, question: Callable[[KafkaAdminClient], T]) -> T:
        """An admin request; a broker that is down or cut off makes it `AssertionError` (so
        `eventually` tries again) and the next request opens a fresh client."""
        try:
            return question(self.admin)
        except KafkaError as exc:
            self.close()
            raise AssertionError(f"Kafka admin request failed: {type(exc).__name__}: {exc}") from exc

    def partitions(self, topic: str = READINGS) -> list[dict]:
        (description,) = self._ask(lambda admin: admin.describe_topics([topic]))
        return sorted(description["partitions"], key=lambda p: p["partition_index"])

    def brokers_in_metadata(self) -> set[int]:
        return {b["broker_id"] for b in self._ask(lambda admin: admin.describe_cluster())["brokers"]}

    def leaders(self, topic: str = READINGS) -> Counter[int]:
        """How many partitions of `topic` each broker (node id) leads."""
        return Counter(p["leader_id"] for p in self.partitions(topic) if p["leader_id"] >= 0)

    def leading_broker(self, topic: str = READINGS) -> Host:
        """The broker host that leads most partitions of `topic`."""
        node_id, _ = self.leaders(topic).most_common(1)[0]
        return self.broker(node_id)

    def broker(self, node_id: int) -> Host:
        return next(b for b in self.cluster.brokers() if b.service.environment["KAFKA_NODE_ID"] == str(node_id))

    def fully_replicated(self, topic: str = READINGS) -> bool:
        return all(len(p["isr_nodes"]) == len(p["replica_nodes"]) for p in self.partitions(topic))

    def topic_config(self, topic: str = READINGS) -> dict[str, str]:
        """The topic's configs set on it (not the brokers' defaults)."""
        answer = self._ask(lambda admin: admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]))
        return {name: config["value"] for name, config in answer["topic"][topic].items()}

    # --- the web node and the workers ---------------------------------------------------------
    def web(self, path: str, auth: bool = True, timeout: float = 10.0) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.cluster.reader_token}"} if auth else {}
        return requests.get(f"{self.web_url}{path}", headers=headers, verify=self.ca_file, timeout=timeout)

    def web_nodes(self) -> list[Host]:
        """The web node replicas (the hosts that run `telering-web-node`), not the balancer."""
        return [
            h
            for h in self.cluster.hosts.values()
            if h.service.command and any("telering-web-node" in part for part in h.service.command)
        ]

    def replica(self, host: Host, path: str, timeout: float = 10.0) -> str:
        """GET `path` from one replica at its address, past the balancer: its own answer (e.g. the
        counters of that one process). TLS verified against the CA; the certificate names the
        service `web-node`, not the replica's address, so the name is not checked."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = False
        request = urllib.request.Request(
            f"https://{host.address}:{self.web_port}{path}",
            headers={"Authorization": f"Bearer {self.cluster.reader_token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
            return answer.read().decode()

    def worker_health(self, host: Host) -> dict | None:
        port = host.service.environment.get("WORKER_WEB_PORT", "6066")
        return host.get_json(f"http://127.0.0.1:{port}/healthz")

    def owned(self) -> dict[str, set[int] | None]:
        """The receivers each live worker host owns (its /healthz), None if it does not say."""
        out: dict[str, set[int] | None] = {}
        for host in self.cluster.replicas("worker"):
            answer = self.worker_health(host) if host.alive else None
            out[host.name] = set(answer.get("receivers", ())) if answer and answer.get("status") == "ok" else None
        return out

    def leader_worker(self) -> Host | None:
        for host in self.cluster.replicas("worker"):
            answer = self.worker_health(host) if host.alive else None
            if answer and answer.get("leader"):
                return host
        return None

    # --- PostgreSQL ---------------------------------------------------------------------------
    def sql(self, statement: str, timeout: float = 30.0) -> str:
        """One statement through psql as the web node's database user, over the bridge."""
        postgres = self.cluster.replicas("postgres")[0]
        env = postgres.service.environment
        password = (self.cluster.secrets_dir / "postgres_password").read_text().strip()
        bindir = pg_bindir()
        psql = str(bindir / "psql") if bindir and (bindir / "psql").exists() else "psql"
        done = subprocess.run(
            [
                psql,
                "-h",
                postgres.address,
                "-U",
                env["POSTGRES_USER"],
                "-d",
                env["POSTGRES_DB"],
                "-XqAt",
                "-c",
                statement,
            ],
            env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"psql: {done.stderr.strip()}")  # retried by `eventually`
        return done.stdout

    def rows(self, statement: str) -> list[list[str]]:
        """The rows of one statement, each a list of its columns' text."""
        return [line.split("|") for line in self.sql(statement).splitlines() if line]

    def stored(self, prefix: str = "") -> int:
        try:
            where = f" WHERE sensor_id LIKE '{_like(prefix)}%'" if prefix else ""
            return int(self.sql(f"SELECT count(*) FROM readings{where}").strip() or 0)
        except (AssertionError, subprocess.TimeoutExpired, ValueError):
            return -1

    def stored_keys(self, prefix: str) -> list[tuple[str, int]]:
        rows = self.sql(f"SELECT sensor_id, seq FROM readings WHERE sensor_id LIKE '{_like(prefix)}%'")
        return [(line.split("|")[0], int(line.split("|")[1])) for line in rows.splitlines() if line]

    def fence_epoch(self) -> int | None:
        try:
            out = self.sql("SELECT max(epoch) FROM grant_fence").strip()
        except AssertionError:
            return None
        return int(out) if out else None


def _like(prefix: str) -> str:
    if any(c in prefix for c in "'%_\\"):
        raise ValueError(f"sensor prefix {prefix!r}: no quotes or LIKE wildcards")
    return prefix
