"""Per-receiver buffers of validated, not-yet-acked readings."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Pending:
    """A valid reading waiting for its receiver's turn; acked (its offset may be committed)
    once it is stored. `event` is an optional handle of the source message."""

    event: Any
    raw: bytes
    offset: int


class ReceiverBuffers:
    """FIFO buffers keyed by partition, bounded in total so a slow web node applies backpressure."""

    def __init__(self, max_total: int) -> None:
        self.max_total = max_total
        self._queues: dict[int, deque[Pending]] = {}
        self._total = 0
        self._space = asyncio.Event()
        self._space.set()

    def add(self, partition: int, pending: Pending) -> None:
        self._queues.setdefault(partition, deque()).append(pending)
        self._total += 1
        if self._total >= self.max_total:
            self._space.clear()

    def peek(self, partition: int, n: int) -> list[Pending]:
        queue = self._queues.get(partition)
        if not queue:
            return []
        return [queue[i] for i in range(min(n, len(queue)))]

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

    def remove(self, partition: int, drop: Iterable[Pending]) -> None:
        """Remove specific entries (dead-lettered items in the middle of a chunk)."""
        queue = self._queues.get(partition)
        doomed = {id(p) for p in drop}
        if not queue or not doomed:
            return
        kept = deque(p for p in queue if id(p) not in doomed)
        removed = len(queue) - len(kept)
        self._queues[partition] = kept
        self._shrink(removed)

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
