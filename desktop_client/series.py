"""Bounded per-sensor time series on numpy ring buffers: memory stays flat over hours."""

from __future__ import annotations

from collections import deque

import numpy as np

from desktop_client.options import QUANTITIES
from desktop_client.records import Block, Sample

COLUMNS = 1 + len(QUANTITIES)  # t, then the quantities


class RingBuffer:
    """Rows of (t, quantities...) keeping the newest `capacity`; `view()` is contiguous, no copy.

    The array is twice the capacity: appends walk forward and, on reaching the end, the live
    rows are moved back to the start once, so each append is amortised O(1).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, not {capacity}")
        self.capacity = capacity
        self._data = np.empty((2 * capacity, COLUMNS), dtype=float)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def view(self) -> np.ndarray:
        return self._data[self._start : self._end]

    def clear(self) -> None:
        self._start = self._end = 0

    def append(self, row: np.ndarray | tuple[float, ...]) -> None:
        if self._end == len(self._data):
            self._compact()
        self._data[self._end] = row
        self._end += 1
        if self._end - self._start > self.capacity:
            self._start += 1

    def extend(self, rows: np.ndarray) -> None:
        rows = rows[-self.capacity :]
        n = len(rows)
        keep = min(len(self), self.capacity - n)
        self._data[:keep] = self._data[self._end - keep : self._end]
        self._data[keep : keep + n] = rows
        self._start, self._end = 0, keep + n

    def insert(self, row: np.ndarray) -> None:
        """Insert keeping rows sorted by time (column 0); appending is the common, cheap case."""
        data = self.view()
        if not len(data) or row[0] >= data[-1, 0]:
            self.append(row)
            return
        if self._end == len(self._data):
            self._compact()
        pos = self._start + int(np.searchsorted(self.view()[:, 0], row[0], side="right"))
        self._data[pos + 1 : self._end + 1] = self._data[pos : self._end].copy()
        self._data[pos] = row
        self._end += 1
        if self._end - self._start > self.capacity:
            self._start += 1

    def set_last(self, row: np.ndarray) -> None:
        self._data[self._end - 1] = row

    def _compact(self) -> None:
        n = len(self)
        self._data[:n] = self._data[self._start : self._end]
        self._start, self._end = 0, n


class SensorSeries:
    """One sensor's plotted points: raw readings, or bucket means when `bucket_s` > 0.

    Recent raw samples are also kept (a short deque) so that loading history can merge with
    what arrived live while it was being fetched, without duplicates and without a gap; and the
    seqs of the last raw history are kept, so that a live sample the history already held (it
    was stored between the query and its push reaching us) is not plotted twice.
    """

    RECENT = 2000

    def __init__(self, sensor_id: str, capacity: int, bucket_s: float = 0.0) -> None:
        self.sensor_id = sensor_id
        self.bucket_s = bucket_s
        self.buffer = RingBuffer(capacity)
        self.recent: deque[Sample] = deque(maxlen=self.RECENT)
        self.latest: Sample | None = None
        self._loaded_seqs: set[int] = set()  # the seqs of the last raw history
        self.version = 0  # bumped on every change, so plots redraw only what changed
        self._bucket_count = 0

    def add(self, sample: Sample) -> None:
        self.recent.append(sample)
        if self.latest is None or sample.t >= self.latest.t:
            self.latest = sample
        if self.bucket_s or sample.seq not in self._loaded_seqs:  # else the loaded history holds it
            self._fold(sample.t, np.asarray(sample.values, dtype=float))
        self.version += 1

    def load(self, block: Block, bucket_s: float, since: float, until: float) -> None:
        """Replace the points with a loaded history, then re-add live samples it lacks."""
        self.bucket_s = bucket_s
        self.buffer.clear()
        self._bucket_count = 0
        if len(block.t):
            self.buffer.extend(np.column_stack([block.t, block.values]))
            if bucket_s:  # the last bucket may be partial: live samples keep averaging into it
                self._bucket_count = int(block.counts[-1]) if block.counts is not None else 1
        known = set(block.seq.tolist()) if block.seq is not None and not bucket_s else set()
        self._loaded_seqs = known
        for s in sorted(self.recent, key=lambda s: s.t):
            fresh = s.seq not in known if not bucket_s else s.t >= until
            if fresh and s.t >= since:
                self._fold(s.t, np.asarray(s.values, dtype=float))
        self.version += 1

    def note_latest(self, sample: Sample | None) -> None:
        """Remember a reading (e.g. from GET /sensors) as the latest if it is newer."""
        if sample is not None and (self.latest is None or sample.t > self.latest.t):
            self.latest = sample
            self.version += 1

    def _fold(self, t: float, values: np.ndarray) -> None:
        if not self.bucket_s:
            self.buffer.insert(np.concatenate(([t], values)))
            return
        start = t - t % self.bucket_s
        data = self.buffer.view()
        if len(data) and data[-1, 0] == start:
            n = self._bucket_count
            self.buffer.set_last(np.concatenate(([start], (data[-1, 1:] * n + values) / (n + 1))))
            self._bucket_count = n + 1
        elif not len(data) or start > data[-1, 0]:
            self.buffer.append(np.concatenate(([start], values)))
            self._bucket_count = 1
        else:  # a late sample for an older bucket: kept as its own point, in time order
            self.buffer.insert(np.concatenate(([start], values)))

    def times(self) -> np.ndarray:
        return self.buffer.view()[:, 0]

    def column(self, quantity: str) -> np.ndarray:
        return self.buffer.view()[:, 1 + QUANTITIES.index(quantity)]

    def between(self, since: float, until: float) -> np.ndarray:
        """Rows with since <= t <= until (a copy), for export."""
        data = self.buffer.view()
        mask = (data[:, 0] >= since) & (data[:, 0] <= until)
        return data[mask].copy()


def visible_points(data: np.ndarray, x0: float, x1: float, max_points: int) -> np.ndarray:
    """The rows a plot of [x0, x1] needs, min/max-decimated to at most about `max_points`.

    Rows must be sorted by time. One neighbour on each side is kept so lines reach the edges;
    decimation keeps each chunk's minimum and maximum, so peaks survive at any zoom.
    """
    t = data[:, 0]
    lo = max(0, int(np.searchsorted(t, x0, side="left")) - 1)
    hi = min(len(t), int(np.searchsorted(t, x1, side="right")) + 1)
    rows = data[lo:hi]
    if len(rows) <= max_points:
        return rows
    step = -(-len(rows) // max(1, max_points // 2))  # ceil division
    starts = np.arange(0, len(rows), step)
    ends = np.minimum(starts + step, len(rows)) - 1
    values = rows[:, 1:]
    out = np.empty((2 * len(starts), rows.shape[1]))
    out[0::2, 0] = rows[starts, 0]
    out[1::2, 0] = rows[ends, 0]
    out[0::2, 1:] = np.minimum.reduceat(values, starts, axis=0)
    out[1::2, 1:] = np.maximum.reduceat(values, starts, axis=0)
    return out
