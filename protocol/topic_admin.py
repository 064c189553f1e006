"""The one place telering's topics are created: partitions, replication and retention as the
design relies on them, idempotently, over the configured (secured) connection.

`telering-topics` (topics_cli.py, what compose's `topic-init` runs), the worker at start-up and
the simulator before it produces all call `ensure_topics`. Left to the broker's
auto-creation, `readings` would get the broker's default partition count, and the number of
partitions is the number of receivers.

Replication: `TOPIC_REPLICATION` copies of every partition; when it is above 1 the topics also
get `min.insync.replicas` = a majority of the copies (2 of 3, 3 of 5), so an `acks=all` write
is on a majority before it is acknowledged and one broker (of three) may fail without losing one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from protocol.kafka_security import kafka_python_options
from protocol.settings import Settings
from protocol.topics import Topics

log = logging.getLogger(__name__)

TOKEN_RETENTION_MS = 3_600_000  # grants live seconds; an hour of history is plenty for a restart


class TopicAdminError(RuntimeError):
    """A topic could not be created (or the broker could not be asked)."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    configs: dict[str, str] = field(default_factory=dict)


def min_insync_replicas(replication: int) -> int | None:
    """A majority of the copies, or None (the broker's default) for a single copy."""
    return replication // 2 + 1 if replication > 1 else None


def readings_topic(settings: Settings, name: str | None = None, partitions: int | None = None) -> TopicSpec:
    """`readings`: READINGS_PARTITIONS partitions (one per receiver)."""
    return _spec(
        name or Topics.with_prefix(settings.telering_topic_prefix).readings,
        partitions or settings.readings_partitions,
        settings,
    )


def telering_topics(settings: Settings) -> list[TopicSpec]:
    """The topics of one deployment (TELERING_TOPIC_PREFIX prefixes their names)."""
    topics = Topics.with_prefix(settings.telering_topic_prefix)
    return [
        readings_topic(settings),
        _spec(topics.token, 1, settings, {"retention.ms": str(TOKEN_RETENTION_MS)}),
        _spec(topics.dlq, 1, settings),
        _spec(topics.alerts, 1, settings),  # one partition: consumers see transitions in the order recorded
    ]


def ensure_topics(
    settings: Settings, specs: Sequence[TopicSpec] | None = None, *, timeout_s: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet (all of telering's by default); the names created.

    Existing topics are left as they are (a different partition count is logged, not changed:
    Kafka cannot remove partitions, and adding some moves sensors to other receivers). Returns
    once every topic has a leader for each partition.
    """
    specs = list(telering_topics(settings) if specs is None else specs)
    timeout_ms = int(timeout_s * 1000)
    try:
        with KafkaAdminClient(
            **kafka_python_options(settings),
            client_id="telering-topics",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        ) as admin:
            created = _create_missing(admin, specs, timeout_ms)
            admin.wait_for_topics([s.name for s in specs], timeout_ms=timeout_ms)
            _warn_on_partition_mismatch(admin, specs)
    except KafkaError as exc:
        raise TopicAdminError(f"cannot create topics at KAFKA_BOOTSTRAP={settings.kafka_bootstrap}: {exc}") from exc
    if created:
        log.info("created topics %s (replication %d)", ", ".join(created), specs[0].replication)
    return created


def _spec(name: str, partitions: int, settings: Settings, configs: dict[str, str] | None = None) -> TopicSpec:
    replication = settings.topic_replication
    configs = dict(configs or {})
    if (isr := min_insync_replicas(replication)) is not None:
        configs["min.insync.replicas"] = str(isr)
    return TopicSpec(name, partitions, replication, configs)


def _create_missing(admin: KafkaAdminClient, specs: Sequence[TopicSpec], timeout_ms: int) -> list[str]:
    existing = set(admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return []
    request = {
        s.name: {"num_partitions": s.partitions, "replication_factor": s.replication, "configs": s.configs}
        for s in missing
    }
    result = admin.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
    created = []
    for topic in result.get("topics", []):
        code = topic.get("error_code", 0)
        if code == 0:
            created.append(topic.get("name"))
        elif for_code(code) is not TopicAlreadyExistsError:  # another part created it a moment ago
            raise TopicAdminError(
                f"creating topic {topic.get('name')!r} failed: {for_code(code).__name__}: "
                f"{topic.get('error_message') or ''}"
            )
    return created


def _warn_on_partition_mismatch(admin: KafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
    wanted = {s.name: s.partitions for s in specs}
    for description in admin.describe_topics(list(wanted)):
        name, partitions = description.get("name"), len(description.get("partitions") or [])
        if name in wanted and partitions and partitions != wanted[name]:
            log.warning(
                "topic %s has %d partitions, not the %d configured; left as it is", name, partitions, wanted[name]
            )
