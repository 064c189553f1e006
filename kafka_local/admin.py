"""Small admin helpers over kafka-python: wait until a broker answers, create topics idempotently.

`client_options` are extra kafka-python connection options for a secured cluster (e.g.
`protocol.kafka_security.kafka_python_options(settings)`; its `bootstrap_servers` is ignored).
telering's own topics come from protocol.topic_admin; `create_topics` is for tests' own topics.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError, for_code

log = logging.getLogger(__name__)

_PROBE_INTERVAL_S = 0.2


class BrokerUnavailable(RuntimeError):
    """No Kafka broker answered at the bootstrap address in time."""


def broker_answers(bootstrap: str, timeout: float = 5.0, client_options: Mapping[str, Any] | None = None) -> bool:
    """True if a broker at ``bootstrap`` answers a metadata request listing at least one broker."""
    if not _port_open(bootstrap, timeout):
        return False
    timeout_ms = max(int(timeout * 1000), 500)
    try:
        with KafkaAdminClient(
            bootstrap_servers=bootstrap,
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            client_id="telering-probe",
            **_connection(client_options),
        ) as admin:
            return bool(admin.describe_cluster().get("brokers"))
    except (KafkaError, OSError) as exc:
        log.debug("Broker at %s not ready yet: %s", bootstrap, exc)
        return False


def wait_for_broker(bootstrap: str, timeout: float = 60.0, client_options: Mapping[str, Any] | None = None) -> None:
    """Block until a broker at ``bootstrap`` answers, or raise :class:`BrokerUnavailable`."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if broker_answers(bootstrap, timeout=min(5.0, max(remaining, 0.5)), client_options=client_options):
            return
        if time.monotonic() >= deadline:
            raise BrokerUnavailable(f"no Kafka broker answered at {bootstrap} within {timeout:g}s")
        time.sleep(_PROBE_INTERVAL_S)  # polling interval, not synchronisation


def create_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    replication: int = 1,
    *,
    timeout: float = 30.0,
    client_options: Mapping[str, Any] | None = None,
) -> None:
    """Create ``{name: partitions}`` topics; existing ones are left as they are.

    Returns once every topic has a leader for each partition, so producers and
    consumers can use them at once.
    """
    if not topics:
        return
    spec = {name: {"num_partitions": n, "replication_factor": replication} for name, n in topics.items()}
    timeout_ms = int(timeout * 1000)
    with KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=timeout_ms,
        client_id="telering-admin",
        **_connection(client_options),
    ) as admin:
        result = admin.create_topics(spec, timeout_ms=timeout_ms, raise_errors=False)
        _raise_unexpected_errors(result)
        admin.wait_for_topics(list(topics), timeout_ms=timeout_ms)
    log.info("Topics ready on %s: %s", bootstrap, dict(topics))


def _connection(client_options: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (client_options or {}).items() if k != "bootstrap_servers"}


def _raise_unexpected_errors(result: dict) -> None:
    for topic in result.get("topics", []):
        error = for_code(topic.get("error_code", 0))
        if topic.get("error_code", 0) == 0 or error is TopicAlreadyExistsError:
            continue
        detail = topic.get("error_message") or ""
        raise error(f"creating topic {topic.get('name')!r} failed: {detail}")


def _port_open(bootstrap: str, timeout: float) -> bool:
    """Cheap pre-check: does anything accept TCP connections at the first bootstrap address?"""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout):
            return True
    except OSError:
        return False
