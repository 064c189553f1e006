"""Per-receiver buffers of validated readings not yet stored (their offsets not yet committed)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pending:
    """A valid reading waiting for its receiver's turn: the bytes to send, and what the
    dead-letter topic needs should the web node refuse it (its offset and Kafka key)."""

    raw: bytes
    offset: int
    key: bytes | None = None


class ReceiverBuffers:
    """FIFO buffers keyed by partition, bounded in total so a slow web node applies backpressure."""

    def __init__(self, max_total: int) -> None:
        self.max_total = max_total
        self._queues: dict[int, deque[Pending]] = {}
        self._total = 0
        self._space = asyncio.Event()
        self._space.set()
        self.arrived = asyncio.Event()  # set whenever a partition goes from empty to holding readings

    def extend(self, partition: int, entries: Sequence[Pending]) -> None:
        if not entries:
            return
        queue = self._queues.setdefault(partition, deque())
        if not queue:
            self.arrived.set()
        queue.extend(entries)
        self._total += len(entries)
        if self._total >= self.max_total:
            self._space.clear()

    def add(self, partition: int, pending: Pending) -> None:
        self.extend(partition, (pending,))

    def peek(self, partition: int, n: int, max_bytes: int | None = None) -> list[Pending]:
        """Up to `n` entries from the head of `partition`, and (if given) at most `max_bytes` of
        them in all, but always at least one."""
        queue = self._queues.get(partition)
        if not queue:
            return []
        taken: list[Pending] = []
        size = 0
        for entry in queue:
            if len(taken) >= n or (max_bytes is not None and taken and size + len(entry.raw) > max_bytes):
                break
            taken.append(entry)
            size += len(entry.raw) + 1
        return taken

    def pop(self, partition: int, chunk: Sequence[Pending]) -> list[Pending]:
        """Remove `chunk` (just stored), which `peek` gave from the head of `partition`.

        Only the very entries of `chunk` go: if a rebalance dropped the partition while the
        chunk was being stored (and it was assigned again and refilled meanwhile), the head now
        holds other, unstored entries, and they stay; counting instead would lose them."""
        queue = self._queues.get(partition)
        taken: list[Pending] = []
        for entry in chunk:
            if not queue or queue[0] is not entry:
                break
            taken.append(queue.popleft())
        self._shrink(len(taken))
        return taken

    def remove(self, partition: int, drop: Iterable[Pending]) -> int:
        """Remove specific entries (dead-lettered ones in the middle of a chunk); how many went."""
        queue = self._queues.get(partition)
        doomed = {id(p) for p in drop}
        if not queue or not doomed:
            return 0
        kept = deque(p for p in queue if id(p) not in doomed)
        removed = len(queue) - len(kept)
        self._queues[partition] = kept
        self._shrink(removed)
        return removed

    def drop(self, partitions: Iterable[int]) -> int:
        """Forget revoked partitions: their new owner replays them from the committed offset."""
        dropped = 0
        for partition in partitions:
            dropped += len(self._queues.pop(partition, ()))
        self._shrink(dropped)
        return dropped

    def size(self, partition: int) -> int:
        return len(self._queues.get(partition, ()))

    def head_offset(self, partition: int) -> int | None:
        """The offset of the oldest entry of `partition` still waiting, if any."""
        queue = self._queues.get(partition)
        return queue[0].offset if queue else None

    @property
    def has_space(self) -> bool:
        return self._space.is_set()

    @property
    def total(self) -> int:
        return self._total

    async def wait_for_space(self) -> None:
        await self._space.wait()

    def _shrink(self, n: int) -> None:
        self._total -= n
        if self._total < self.max_total:
            self._space.set()
