"""Which `readings` partition a sensor's readings land in: Kafka's default partitioner.

Kafka's Java client, kafka-python and aiokafka all hash the key with murmur2 and take it
modulo the partition count; the web node uses this to check that a grant covers a batch.
"""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def partition_for(sensor_id: str, partitions: int) -> int:
    return (murmur2(sensor_id.encode()) & 0x7FFFFFFF) % partitions
