"""Which offset of each `readings` partition may be committed: the delivery guarantee's arithmetic.

Everything a receiver read is either still buffered (not stored yet), or stored, or
dead-lettered. The commit point of a partition is the oldest offset still buffered, or, with
nothing buffered, the offset after the last one read and fully handled — so a crash replays
every reading not yet stored, and never skips one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class CommitPoints:
    def __init__(self) -> None:
        self._handled: dict[int, int] = {}  # partition -> offset after the last message handled
        self._committed: dict[int, int] = {}

    def handled(self, partition: int, next_offset: int) -> None:
        """Every message of `partition` before `next_offset` is buffered, stored or dead-lettered."""
        self._handled[partition] = max(next_offset, self._handled.get(partition, 0))

    def reset(self, partitions: Iterable[int]) -> None:
        """Forget partitions (revoked, or newly assigned: reading resumes at the committed offset)."""
        for partition in partitions:
            self._handled.pop(partition, None)
            self._committed.pop(partition, None)

    def due(self, partitions: Iterable[int], head_offset: Callable[[int], int | None]) -> dict[int, int]:
        """Commit points that moved since the last commit, for the given (owned) partitions."""
        due = {}
        for partition in partitions:
            handled = self._handled.get(partition)
            if handled is None:
                continue
            head = head_offset(partition)
            point = handled if head is None else min(head, handled)
            if point > self._committed.get(partition, -1):
                due[partition] = point
        return due

    def committed(self, points: dict[int, int]) -> None:
        for partition, offset in points.items():
            self._committed[partition] = max(offset, self._committed.get(partition, -1))

    def committed_offset(self, partition: int) -> int | None:
        """The offset last committed for `partition` by this worker, if any."""
        return self._committed.get(partition)
