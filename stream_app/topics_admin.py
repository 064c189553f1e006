"""Create telering's topics (idempotently) with the partition counts the design relies on."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from protocol.settings import Settings
from protocol.topics import Topics

log = logging.getLogger(__name__)

TOKEN_RETENTION_MS = 3_600_000


def wanted_topics(settings: Settings) -> list[NewTopic]:
    topics = Topics.with_prefix(settings.topic_prefix)
    rf = settings.topic_replication
    return [
        NewTopic(topics.readings, settings.readings_partitions, rf),
        NewTopic(topics.token, 1, rf, topic_configs={"retention.ms": str(TOKEN_RETENTION_MS)}),
        NewTopic(topics.dlq, 1, rf),
    ]


async def ensure_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted_topics(settings) if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", ", ".join(t.name for t in missing))
    finally:
        await admin.close()
