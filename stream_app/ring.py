"""The ring: which receivers are alive, and who holds the token next."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

PRESENCE_INTERVAL_S = 1.0  # every worker announces the receivers it owns this often (stream_app/token_side.py)
PRESENCE_TTL_S = 3.5 * PRESENCE_INTERVAL_S  # a worker unseen for this long (3+ missed presence messages) drops out


@dataclass
class Ring:
    """Membership from workers' presence messages, newest per worker (by topic order).

    Liveness is judged on this worker's own clock (when it saw the message), never on the
    sender's `at`, so a skewed or forged clock cannot keep a dead worker in the ring."""

    ttl_s: float = PRESENCE_TTL_S
    _workers: dict[str, tuple[tuple[int, ...], float]] = field(default_factory=dict)

    def saw(self, worker: str, partitions: tuple[int, ...], seen_at: float) -> None:
        """`worker` owns `partitions` as of `seen_at` (messages arrive in topic order: newest wins)."""
        self._workers[worker] = (tuple(sorted(set(partitions))), seen_at)

    def members(self, now: float) -> list[int]:
        """Receivers (partitions) with a live owner, in ring order."""
        alive = {p for parts, seen in self._workers.values() if now - seen <= self.ttl_s for p in parts}
        return sorted(alive)

    def owners(self, partition: int, now: float) -> set[str]:
        """The live workers whose newest presence claims `partition`."""
        return {w for w, (parts, seen) in self._workers.items() if now - seen <= self.ttl_s and partition in parts}

    def next_after(self, last: int | None, now: float) -> int | None:
        """The next live receiver after `last` in partition order, wrapping round; skips none."""
        members = self.members(now)
        if not members:
            return None
        if last is None:
            return members[0]
        i = bisect.bisect_right(members, last)
        return members[i % len(members)]
