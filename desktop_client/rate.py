"""Readings per second over a sliding window, for the status bar."""

from __future__ import annotations

from collections import deque


class RateMeter:
    """Counts events in time-stamped chunks and reports their rate over the last `span_s`."""

    def __init__(self, span_s: float = 5.0) -> None:
        self.span_s = span_s
        self._chunks: deque[tuple[float, int]] = deque()
        self.total = 0

    def add(self, n: int, now: float) -> None:
        self._chunks.append((now, n))
        self.total += n
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        return sum(n for _, n in self._chunks) / self.span_s

    def _trim(self, now: float) -> None:
        while self._chunks and self._chunks[0][0] < now - self.span_s:
            self._chunks.popleft()
