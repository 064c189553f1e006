"""kafka_local against a real Apache Kafka 3.9 broker (the session broker, or a private one).

Needs: Java 17+ and the broker jars (``make kafka-jars``), or ``KAFKA_BOOTSTRAP``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from kafka_local import BrokerError, KafkaHandle, LocalKafka, create_topics
from tests.support.waiting import eventually

pytestmark = pytest.mark.kafka


def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=5)
    try:
        futures = [producer.send(topic, key=b"k", value=f"v{i}".encode()) for i in range(count)]
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()


def _consume_all(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    consumer.assign([TopicPartition(topic, 0)])
    values: list[bytes] = []

    def got_all() -> bool:
        for records in consumer.poll(timeout_ms=200).values():
            values.extend(r.value for r in records)
        return len(values) >= count

    try:
        eventually(got_all, timeout=30, message=f"consuming {count} records from {topic}")
    finally:
        consumer.close()
    return values


def _partition_count(bootstrap: str, topic: str) -> int:
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        (described,) = admin.describe_topics([topic])
    return len(described["partitions"])


def test_produce_consume_round_trip(kafka_broker: KafkaHandle, topic_prefix: str) -> None:
    topic = topic_prefix + "roundtrip"
    create_topics(kafka_broker.bootstrap, {topic: 1})

    _produce(kafka_broker.bootstrap, topic, 10)

    assert _consume_all(kafka_broker.bootstrap, topic, 10) == [f"v{i}".encode() for i in range(10)]


def test_create_topics_is_idempotent(kafka_broker: KafkaHandle, topic_prefix: str) -> None:
    topic = topic_prefix + "idem"
    create_topics(kafka_broker.bootstrap, {topic: 3})
    create_topics(kafka_broker.bootstrap, {topic: 3})
    create_topics(kafka_broker.bootstrap, {topic: 5})  # existing topics are left as they are

    assert _partition_count(kafka_broker.bootstrap, topic) == 3


@pytest.mark.slow
def test_restart_keeps_data_and_address(kafka_factory: Callable[..., LocalKafka]) -> None:
    broker = kafka_factory()
    bootstrap = broker.bootstrap
    _produce(bootstrap, "durable", 20)

    broker.restart()

    assert broker.bootstrap == bootstrap
    assert len(_consume_all(bootstrap, "durable", 20)) == 20


@pytest.mark.slow
def test_failed_start_raises_with_the_log_tail(kafka_factory: Callable[..., LocalKafka]) -> None:
    broker = kafka_factory()
    broker.kill()
    assert not broker.running
    (broker.workdir / "data" / "meta.properties").write_text("garbage\n")

    with pytest.raises(BrokerError, match="last lines of"):
        broker.start(timeout=60)
    assert not broker.running
