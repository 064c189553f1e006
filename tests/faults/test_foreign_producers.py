"""Producers that are not kafka-python (issue 11): a reading belongs to the partition it was
consumed from, whatever partitioner or key put it there.

A real librdkafka producer (confluent-kafka, its default CRC32-based partitioner), keyless
kafka-python messages and messages keyed by a gateway instead of the sensor: every reading is
stored exactly once, and ordinary readings sent after them keep flowing.

Needs: the session's real Apache Kafka broker, a real web node process with a SQLite file, a real
worker process, confluent-kafka (librdkafka) and the simulator.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Producer
from kafka import KafkaProducer

from protocol.partitioning import partition_for
from tests.faults.hostile import assert_exactly_once, healthy

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PARTITIONS = 4


def reading(sensor_id: str, seq: int) -> bytes:
    ts = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {
            "sensor_id": sensor_id,
            "seq": seq,
            "ts": ts,
            "temperature": 20.5,
            "humidity": 40.0,
            "pressure": 1000.0,
            "battery": 90.0,
        }
    ).encode()


def send_with_librdkafka(bootstrap: str, topic: str, sensors: list[str], per_sensor: int) -> list[int]:
    """Keyed by sensor id through librdkafka's default partitioner; the partitions it chose."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    chosen: list[int] = []
    failures: list[str] = []

    def delivered(err, msg) -> None:
        if err is not None:
            failures.append(str(err))
        else:
            chosen.append(msg.partition())

    for seq in range(per_sensor):
        for sensor in sensors:
            producer.produce(topic, key=sensor.encode(), value=reading(sensor, seq), on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(60) == 0 and not failures, failures
    return chosen


def send_with_kafka_python(bootstrap: str, topic: str, sensors: list[str], per_sensor: int, key: bytes | None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    futures = [producer.send(topic, key=key, value=reading(s, seq)) for seq in range(per_sensor) for s in sensors]
    producer.flush(60)
    for future in futures:
        future.get(timeout=60)
    producer.close()


def test_readings_from_any_partitioner_or_key_are_stored_and_the_stream_keeps_flowing(pipeline_factory):
    harness = pipeline_factory(partitions=PARTITIONS)
    harness.start_web_node()
    worker = harness.start_worker()
    harness.wait_worker_ready(worker)
    topic = harness.topics.readings

    crc32 = [f"rdk-{i}" for i in range(12)]
    chosen = send_with_librdkafka(harness.bootstrap, topic, crc32, per_sensor=50)
    # librdkafka really did put readings where murmur2 would not: the case that used to stall everything
    murmur2 = Counter(partition_for(s, PARTITIONS) for s in crc32 for _ in range(50))
    assert Counter(chosen) != murmur2
    keyless = [f"nokey-{i}" for i in range(4)]
    send_with_kafka_python(harness.bootstrap, topic, keyless, per_sensor=50, key=None)
    gateway = [f"gw-{i}" for i in range(4)]
    send_with_kafka_python(harness.bootstrap, topic, gateway, per_sensor=50, key=b"gateway-7")
    foreign = {**{s: 50 for s in crc32}, **{s: 50 for s in keyless}, **{s: 50 for s in gateway}}

    summary = harness.simulate("--sensors", "8", "--count", "400", "--rate", "0", "--seed", "3")
    assert_exactly_once(harness, summary, _foreign_summary(foreign))
    assert not harness.dlq_messages()
    assert worker.alive and healthy(harness)


def _foreign_summary(per_sensor: dict[str, int]) -> dict:
    """What `assert_exactly_once` reads, for readings sent by these tests' own producers."""
    return {
        "failed": 0,
        "sent_valid": sum(per_sensor.values()),
        "per_sensor": {sensor: {"sent": n} for sensor, n in per_sensor.items()},
    }
