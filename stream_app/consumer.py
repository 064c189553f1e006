"""The readings consumer: `readings` read in batches by one aiokafka consumer per worker.

Why not a Faust agent: Faust's per-event machinery (a task pair per message in
`Consumer._drain_messages`, the conductor's lock, Event objects, channel queues, the stream
iterator) costs many times the CPU per message of this batch loop, even for an agent that does
nothing (the measured figures: docs/performance.md). The receivers need one cheap pass over each
fetched batch, so they read the topic with the plain aiokafka consumer Faust itself wraps, in the
worker's own event loop. The consumer group `<app id>-receivers` assigns the partitions (the
receivers); offsets are committed by hand, only as far as `CommitPoints` allows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from protocol.kafka_security import aiokafka_options
from protocol.settings import Settings

log = logging.getLogger(__name__)

FETCH_MAX_RECORDS = 5000
FETCH_TIMEOUT_MS = 200
# Let the broker gather a fetch's worth (or wait at most this long): a fetch costs the same
# syscalls and parsing whether it brings 5 readings or 500, so at moderate rates fetching
# eagerly would spend the CPU on fetches rather than readings. Adds at most the wait to latency.
FETCH_MIN_BYTES = 128 << 10
FETCH_MAX_WAIT_MS = 100
# A killed worker's receivers (and leadership) move after this long; Faust's own default is a
# minute. Both of the worker's groups use these (stream_app/app.py configures Faust's).
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 1.0

PartitionsCallback = Callable[[set[int]], Awaitable[None]]
Batch = dict[int, list]  # partition -> aiokafka ConsumerRecords, in offset order


def group_id(settings: Settings) -> str:
    return f"{settings.telering_app_id}-receivers"


class ReadingsConsumer:
    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        client_id: str,
        on_assigned: PartitionsCallback,
        on_revoked: PartitionsCallback,
    ) -> None:
        self.topic = topic
        self._options = dict(
            **aiokafka_options(settings),
            group_id=group_id(settings),
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(SESSION_TIMEOUT_S * 1000),
            heartbeat_interval_ms=int(HEARTBEAT_INTERVAL_S * 1000),
            fetch_min_bytes=FETCH_MIN_BYTES,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            max_partition_fetch_bytes=4 << 20,
        )
        self._consumer: AIOKafkaConsumer | None = None  # made by start(), in the worker's event loop
        self._listener = _Listener(topic, on_assigned, on_revoked)
        self._paused = False
        self.last_poll = 0.0  # time.monotonic() of the latest poll: the loop is alive

    @property
    def in_group(self) -> bool:
        """Whether the consumer holds an assignment of a completed rebalance (possibly empty)."""
        return self._listener.generations > 0 and not self._listener.rebalancing

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(**self._options)
        await self._consumer.start()
        self._consumer.subscribe([self.topic], listener=self._listener)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def batches(self, has_space: Callable[[], bool]) -> AsyncIterator[Batch]:
        """Fetched records by partition. While `has_space()` is false the partitions are paused
        (backpressure) but the consumer keeps polling, so it stays in the group."""
        assert self._consumer is not None, "start() the consumer first"
        while True:
            self._pause(not has_space())
            self.last_poll = time.monotonic()
            fetched = await self._consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=FETCH_MAX_RECORDS)
            if fetched:
                yield {tp.partition: records for tp, records in fetched.items() if records}

    async def commit(self, offsets: dict[int, int]) -> bool:
        """Commit `partition -> next offset to read`; False if Kafka refused (a rebalance:
        the partition's next owner then replays from the previous commit, harmlessly)."""
        if not offsets or self._consumer is None:
            return not offsets
        try:
            await self._consumer.commit({TopicPartition(self.topic, p): o for p, o in offsets.items()})
        except KafkaError as exc:
            log.warning("could not commit receivers' offsets %s: %s", offsets, exc)
            return False
        return True

    def highwater(self, partition: int) -> int | None:
        """The partition's end offset as of the latest fetch (None before one)."""
        if self._consumer is None:
            return None
        return self._consumer.highwater(TopicPartition(self.topic, partition))

    def _pause(self, pause: bool) -> None:
        assert self._consumer is not None
        if pause:  # every time: a rebalance may have assigned partitions that are not paused
            self._consumer.pause(*self._consumer.assignment())
        elif self._paused:
            self._consumer.resume(*self._consumer.assignment())
        self._paused = pause


class _Listener(ConsumerRebalanceListener):
    def __init__(self, topic: str, on_assigned: PartitionsCallback, on_revoked: PartitionsCallback) -> None:
        self._topic = topic
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self.generations = 0
        self.rebalancing = False

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.rebalancing = True
        await self._on_revoked({tp.partition for tp in revoked if tp.topic == self._topic})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._on_assigned({tp.partition for tp in assigned if tp.topic == self._topic})
        self.generations += 1
        self.rebalancing = False
