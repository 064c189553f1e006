"""partition_for agrees with kafka-python's DefaultPartitioner (and so with Java's murmur2)."""

from __future__ import annotations

import pytest
from kafka.partitioner import DefaultPartitioner

from protocol.partitioning import partition_for


class _Cluster:
    """Just enough ClusterMetadata for DefaultPartitioner: one topic, all partitions available."""

    def __init__(self, topic: str, partitions: int) -> None:
        self._topic, self._partitions = topic, set(range(partitions))

    def topics(self) -> set[str]:
        return {self._topic}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions


KEYS = ["sensor-000", "sensor-001", "sensor-042", "a", "ab", "abc", "S" * 64, "x.y_z-1", "123456789"]


@pytest.mark.parametrize("partitions", [1, 2, 3, 4, 7, 16, 100])
def test_matches_kafka_pythons_default_partitioner(partitions: int) -> None:
    partitioner, cluster = DefaultPartitioner(), _Cluster("readings", partitions)
    for key in KEYS + [f"sensor-{i:03d}" for i in range(200)]:
        expected = partitioner.partition("readings", key, key.encode(), b"{}", b"{}", cluster)
        assert partition_for(key, partitions) == expected, key


@pytest.mark.parametrize(("key", "expected"), [("a", 524), ("ab", 434), ("abc", 107), ("123456789", 566)])
def test_matches_the_java_clients_murmur2(key: str, expected: int) -> None:
    # Vectors from Kafka's Java client, as used by kafka-python's own compatibility test.
    assert partition_for(key, 1000) == expected


def test_spreads_sensors_over_partitions() -> None:
    used = {partition_for(f"sensor-{i:03d}", 4) for i in range(100)}
    assert used == {0, 1, 2, 3}
