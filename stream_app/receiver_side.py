"""The receiver side of a worker: a reading's path from Kafka to a turn, top to bottom.

consume (one batch consumer, stream_app/consumer.py) → validate → dead-letter the invalid
(stream_app/dlq.py) or buffer the valid under the partition they were consumed from
(stream_app/buffers.py) → a turn takes chunks, and what the web node stored or refused leaves
the buffer → commit each partition up to its oldest reading still buffered
(stream_app/commits.py). A crash anywhere replays from the last commit, never skips.

The token side (stream_app/token_side.py) uses the small interface at the bottom: which
partitions this worker owns (and when that changes), how much each holds (and when readings
arrive), a chunk to send, what was stored, what to dead-letter. Health and metrics read
`status()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from protocol.settings import Settings
from stream_app import dlq
from stream_app.buffers import Pending, ReceiverBuffers
from stream_app.commits import CommitPoints
from stream_app.consumer import Batch, ReadingsConsumer
from stream_app.dlq import DeadLetter, DeadLetters

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 0.2  # commits coalesce: at most a few a second, whatever the turn rate
# A valid reading is ~200 bytes compact; a bigger one is padded (whitespace is valid JSON) and is
# buffered and sent re-encoded compactly, so padding can neither fill memory nor a batch.
COMPACT_ABOVE = 1024


@dataclass(frozen=True, slots=True)
class ReceiverStatus:
    in_group: bool  # the consumer holds the assignment of a completed rebalance
    last_poll: float  # time.monotonic() of the consumer's latest poll: the loop is alive
    consumed: int  # messages read from the readings topic
    buffered: int  # valid readings waiting for a turn, all partitions
    pending: dict[int, int]  # by owned partition: readings waiting for a turn
    lag: dict[int, int]  # by owned partition: messages past its committed offset (where both are known)


class ReceiverSide:
    def __init__(self, settings: Settings, topic: str, dead_letters: DeadLetters, *, client_id: str) -> None:
        self.topic = topic
        self.buffers = ReceiverBuffers(settings.receiver_buffer_max)
        self.commits = CommitPoints()
        self.owned: set[int] = set()
        self._ownership_changed = asyncio.Event()
        self.consumed = 0
        self._dead_letters = dead_letters
        self._commit_wanted = asyncio.Event()
        self.consumer = ReadingsConsumer(
            settings, topic, client_id=client_id, on_assigned=self._on_assigned, on_revoked=self._on_revoked
        )

    async def run(self) -> None:
        """Consume until cancelled; the commit loop runs beside it, and a failure of either ends both."""
        await self.consumer.start()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._commit_loop(), name="receivers-commit")
                async for batch in self.consumer.batches(lambda: self.buffers.has_space):
                    await self._receive(batch)
        finally:
            await self._commit()
            await self.consumer.stop()

    async def _receive(self, batch: Batch) -> None:
        """Buffer the valid readings of a fetched batch; dead-letter the others (then they count as handled)."""
        is_valid = dlq.is_valid
        for partition, records in batch.items():
            if partition not in self.owned:
                continue
            valid: list[Pending] = []
            invalid: list[DeadLetter] = []
            for record in records:
                if is_valid(record.value):
                    raw = record.value if len(record.value) <= COMPACT_ABOVE else _compact(record.value)
                    valid.append(Pending(raw, record.offset, record.key))
                else:
                    invalid.append(self._letter(partition, record.offset, record.key, record.value, "invalid"))
            self.buffers.extend(partition, valid)
            if invalid:
                await self._dead_letters.send(invalid)
            self.consumed += len(records)
            self.commits.handled(partition, records[-1].offset + 1)
        self._commit_wanted.set()

    def _letter(self, partition: int, offset: int, key: bytes | None, value: bytes | None, kind: str) -> DeadLetter:
        why = dlq.reason(value) or "refused by the receivers' validation"
        return DeadLetter(self.topic, partition, offset, key, value, why, kind)

    # -- commits --------------------------------------------------------------------------------
    async def _commit_loop(self) -> None:
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            await self._commit()
            await asyncio.sleep(COMMIT_INTERVAL_S)  # coalescing: later commits wait for the next round

    async def _commit(self, partitions: set[int] | None = None) -> None:
        due = self.commits.due(self.owned if partitions is None else partitions, self.buffers.head_offset)
        if due and await self.consumer.commit(due):
            self.commits.committed(due)

    # -- rebalances (the receivers' group) ------------------------------------------------------
    async def _on_assigned(self, partitions: set[int]) -> None:
        """The group gave this worker `partitions`: reading resumes at their commits."""
        self.buffers.drop(self.owned - partitions)
        self.commits.reset(partitions | self.owned)
        self.owned = set(partitions)
        log.info("worker owns receivers %s", sorted(partitions))
        self._ownership_changed.set()

    async def _on_revoked(self, partitions: set[int]) -> None:
        """Commit what is stored, then forget the rest: the next owner replays it."""
        await self._commit(partitions & self.owned)
        self.buffers.drop(partitions)
        self.commits.reset(partitions)
        self.owned -= partitions
        self._ownership_changed.set()

    def status(self) -> ReceiverStatus:
        lag: dict[int, int] = {}
        for partition in self.owned:
            end, committed = self.consumer.highwater(partition), self.commits.committed_offset(partition)
            if end is not None and committed is not None:
                lag[partition] = max(0, end - committed)
        return ReceiverStatus(
            in_group=self.consumer.in_group,
            last_poll=self.consumer.last_poll,
            consumed=self.consumed,
            buffered=self.buffers.total,
            pending={partition: self.pending(partition) for partition in sorted(self.owned)},
            lag=lag,
        )

    # -- the token side's interface -------------------------------------------------------------
    def owns(self, partition: int) -> bool:
        """Whether this worker is `partition`'s receiver now."""
        return partition in self.owned

    async def ownership(self, interval: float) -> AsyncIterator[tuple[int, ...]]:
        """The partitions this worker owns: now, then as soon as they change, and at least every
        `interval` seconds (one reader: each change is reported to whoever iterates)."""
        while True:
            self._ownership_changed.clear()
            yield tuple(sorted(self.owned))
            try:
                await asyncio.wait_for(self._ownership_changed.wait(), interval)
            except TimeoutError:
                pass

    async def arrivals(self) -> AsyncIterator[None]:
        """Once each time readings arrive for a partition that had none waiting (one reader)."""
        arrived = self.buffers.arrived
        while True:
            await arrived.wait()
            arrived.clear()
            yield None

    def pending(self, partition: int) -> int:
        """Readings of `partition` waiting for a turn."""
        return self.buffers.size(partition)

    def chunk(self, partition: int, max_readings: int, max_bytes: int) -> list[Pending]:
        """The next readings to send for `partition` (from the head), bounded by count and bytes."""
        return self.buffers.peek(partition, max_readings, max_bytes)

    def stored(self, partition: int, chunk: Sequence[Pending]) -> None:
        """The web node stored `chunk`: it leaves the buffer and its offsets may be committed."""
        self.buffers.pop(partition, chunk)
        self._commit_wanted.set()

    async def dead_letter(self, partition: int, refused: Sequence[tuple[Pending, str]]) -> None:
        """The web node refused these readings for good: dead-letter them with its reason, then drop them."""
        letters = [
            DeadLetter(self.topic, partition, p.offset, p.key, p.raw, f"refused by web node: {why}", "refused")
            for p, why in refused
        ]
        await self._dead_letters.send(letters)
        self.buffers.remove(partition, [p for p, _ in refused])
        self._commit_wanted.set()


def _compact(raw: bytes) -> bytes:
    return json.dumps(json.loads(raw), separators=(",", ":"), allow_nan=False).encode()
