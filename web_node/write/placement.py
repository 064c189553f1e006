"""Whether a batch's readings sit where Kafka's default partitioner would put them.

A reading belongs to the receiver of the partition it was consumed from (DESIGN.md, Foreign
producers): the batch names that receiver and the grant must cover it. Producers other than
kafka-python / aiokafka / the Java client place readings by other rules (librdkafka's CRC32,
sarama's FNV-1a, no key, a gateway's key instead of the sensor id), so a reading that
`murmur2(sensor_id) % P` puts elsewhere is stored all the same: it is counted
(`telering_readings_unpartitioned_total`) and each receiver's first such batch is logged once.

A body that does not name its receiver (a worker older than the field) can only be checked the
old way: each reading's murmur2 partition must be the grant's receiver, else 403.
WEB_NODE_CHECK_PARTITION=false turns both off (no hashing: nothing counted, nothing refused).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from protocol.partitioning import partition_for
from web_node.errors import ApiError

if TYPE_CHECKING:
    from prometheus_client import Counter

log = logging.getLogger(__name__)


class Placement:
    """The murmur2 check of one web node: counts foreign placements, refuses only unnamed batches."""

    def __init__(self, partitions: int, *, enabled: bool = True) -> None:
        self.partitions = partitions
        self.enabled = enabled
        self.unpartitioned = 0  # stored readings that murmur2 would have put in another partition
        self.foreign_counter: Counter | None = None  # the metric that counts them too (web_node/metrics.py)
        self._reported: set[int] = set()

    def observe(self, receiver: int, stored: Iterable[dict]) -> int:
        """Count the newly stored readings of `receiver` that murmur2 places elsewhere; log the
        first time a receiver has any. Returns how many there were."""
        if not self.enabled:
            return 0
        foreign = [r["sensor_id"] for r in stored if _partition(r["sensor_id"], self.partitions) != receiver]
        if not foreign:
            return 0
        self.unpartitioned += len(foreign)
        if self.foreign_counter is not None:
            self.foreign_counter.inc(len(foreign))
        if receiver not in self._reported:
            self._reported.add(receiver)
            example = foreign[0]
            log.warning(
                "receiver %d sends readings that murmur2(sensor_id) %% %d does not place in partition %d "
                "(e.g. sensor %r -> %d): the topic's producers do not key and partition by murmur2 of the sensor "
                "id (librdkafka's CRC32, sarama's FNV-1a, no key, or a gateway's key); stored anyway, counted in "
                "telering_readings_unpartitioned_total (logged once per receiver)",
                receiver,
                self.partitions,
                receiver,
                example,
                _partition(example, self.partitions),
            )
        return len(foreign)

    def check_unnamed(self, rows: Iterable[dict], receiver: int) -> None:
        """A batch that does not name its receiver: every reading must hash to the grant's (403 if not)."""
        if not self.enabled:
            return
        for row in rows:
            sensor_id = row["sensor_id"]
            owner = _partition(sensor_id, self.partitions)
            if owner != receiver:
                raise ApiError(
                    403,
                    "grant_wrong_receiver",
                    f"sensor {sensor_id!r} belongs to receiver {owner} (murmur2), the grant covers {receiver}; "
                    'a batch that names its receiver ({"receiver": r, ...}) is stored whatever its partitioner',
                )


@lru_cache(maxsize=65536)
def _partition(sensor_id: str, partitions: int) -> int:
    return partition_for(sensor_id, partitions)
