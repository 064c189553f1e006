"""The ``server.properties`` of a single-node KRaft broker, and free loopback ports for it."""

from __future__ import annotations

import base64
import socket
import uuid
from collections.abc import Mapping
from pathlib import Path

# Tuned for one small broker on a test machine: single replicas, no rebalance delay,
# few internal partitions (faster group coordinator start), a small cleaner buffer.
_DEFAULTS: dict[str, str] = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "auto.create.topics.enable": "true",
    "delete.topic.enable": "true",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "group.initial.rebalance.delay.ms": "0",
    # After a SIGKILL the restarted broker must wait out its old registration's session;
    # 3 s (default 9 s) keeps crash/restart fault tests quick.
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    "num.network.threads": "2",
    "num.io.threads": "4",
    "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
}
# Kafka 4's share groups keep their state in an internal topic of replication factor 3 by default.
_KAFKA4_DEFAULTS: dict[str, str] = {
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
}


def server_properties(
    *,
    port: int,
    controller_port: int,
    data_dir: Path,
    overrides: Mapping[str, str] | None = None,
    secure_port: int | None = None,
    security: Mapping[str, str] | None = None,
    kafka_major: int = 4,
) -> str:
    """Render the broker configuration as ``key=value`` lines; with ``security`` (the
    properties of kafka_local.secure) a SASL_SSL listener on ``secure_port`` too, and the
    controller listener SASL_SSL."""
    props = dict(_DEFAULTS) | (_KAFKA4_DEFAULTS if kafka_major >= 4 else {})
    listeners = [f"PLAINTEXT://127.0.0.1:{port}"]
    if security is not None:
        listeners.append(f"SASL_SSL://127.0.0.1:{secure_port}")
        props["listener.security.protocol.map"] = "CONTROLLER:SASL_SSL,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL"
        props.update(security)
    props.update(
        {
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{controller_port}"]),
            "advertised.listeners": ",".join(listeners),
            "log.dirs": str(data_dir),
        }
    )
    props.update(overrides or {})
    return "".join(f"{key}={value}\n" for key, value in props.items())


def random_cluster_id() -> str:
    """A cluster id in Kafka's ``Uuid`` text form (22 chars of url-safe base64)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka's own generator avoids a leading dash too
            return text


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback TCP ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
