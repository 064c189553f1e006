"""The ring: which receivers are alive, and who holds the token next."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class Ring:
    """Membership from workers' presence messages; a worker unseen for `ttl_s` drops out."""

    ttl_s: float = 3.5
    _workers: dict[str, tuple[tuple[int, ...], float]] = field(default_factory=dict)

    def saw(self, worker: str, partitions: tuple[int, ...], at: float) -> None:
        previous = self._workers.get(worker)
        if previous is None or previous[1] <= at:
            self._workers[worker] = (tuple(sorted(partitions)), at)

    def members(self, now: float) -> list[int]:
        """Receivers (partitions) with a live owner, in ring order."""
        alive = {p for parts, at in self._workers.values() if now - at <= self.ttl_s for p in parts}
        return sorted(alive)

    def next_after(self, last: int | None, now: float) -> int | None:
        """The next live receiver after `last` in partition order, wrapping round; skips none."""
        members = self.members(now)
        if not members:
            return None
        if last is None:
            return members[0]
        i = bisect.bisect_right(members, last)
        return members[i % len(members)]
