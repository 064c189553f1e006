"""Ring buffers and per-sensor series: pure numpy, no Qt."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_client.records import Block, Sample
from desktop_client.series import RingBuffer, SensorSeries, visible_points


def sample(t: float, seq: int, value: float = 1.0, sensor: str = "s") -> Sample:
    return Sample(sensor, seq, t, (value, value + 1, value + 2, value + 3))


def test_ring_buffer_keeps_the_newest_rows_contiguously():
    ring = RingBuffer(5)
    for i in range(23):
        ring.append((i, i, i, i, i))
    assert len(ring) == 5
    assert ring.view()[:, 0].tolist() == [18, 19, 20, 21, 22]
    assert ring.view().flags["C_CONTIGUOUS"]


def test_ring_buffer_memory_stays_flat():
    ring = RingBuffer(100)
    before = ring._data.nbytes
    for i in range(10_000):
        ring.append((i, 0, 0, 0, 0))
    assert ring._data.nbytes == before and len(ring) == 100


def test_ring_buffer_extend_keeps_capacity_and_order():
    ring = RingBuffer(4)
    ring.append((0, 0, 0, 0, 0))
    ring.extend(np.array([[i, 0, 0, 0, 0] for i in range(1, 3)], dtype=float))
    assert ring.view()[:, 0].tolist() == [0, 1, 2]
    ring.extend(np.array([[i, 0, 0, 0, 0] for i in range(3, 10)], dtype=float))
    assert ring.view()[:, 0].tolist() == [6, 7, 8, 9]


def test_ring_buffer_insert_keeps_time_order():
    ring = RingBuffer(4)
    for t in (1, 3, 4, 2, 0):
        ring.insert(np.array([t, 0, 0, 0, 0], dtype=float))
    assert ring.view()[:, 0].tolist() == [1, 2, 3, 4]  # the oldest fell out


def test_ring_buffer_rejects_zero_capacity():
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(0)


def test_series_raw_history_merges_live_samples_without_duplicates():
    series = SensorSeries("s", capacity=100)
    for seq in range(5, 8):  # arrived live while the history was loading
        series.add(sample(100.0 + seq, seq))
    history = Block.from_samples("s", [sample(100.0 + seq, seq) for seq in range(0, 6)])
    series.load(history, bucket_s=0, since=0.0, until=106.0)
    assert series.times().tolist() == [100.0 + s for s in range(8)]
    assert series.latest.seq == 7


def test_series_live_sample_the_history_already_held_is_not_plotted_twice():
    # stored between the history's query and its live push reaching the client (a reconnect)
    series = SensorSeries("s", capacity=100)
    history = Block.from_samples("s", [sample(100.0, 0, value=10.0), sample(101.0, 1, value=11.0)])
    series.load(history, bucket_s=0, since=0.0, until=102.0)
    series.add(sample(101.0, 1, value=11.0))
    series.add(sample(102.0, 2, value=12.0))
    assert series.column("temperature").tolist() == [10.0, 11.0, 12.0]
    assert series.latest.seq == 2


def test_series_bucketed_folds_live_samples_into_bucket_means():
    series = SensorSeries("s", capacity=100, bucket_s=10)
    history = Block("s", np.array([0.0, 10.0]), np.array([[1.0] * 4, [2.0] * 4]), counts=np.array([3, 1]))
    series.load(history, bucket_s=10, since=0.0, until=15.0)
    series.add(sample(16.0, 1, value=4.0))  # same bucket as t=10: mean of (2, 4) = 3
    series.add(sample(21.0, 2, value=7.0))  # a new bucket
    assert series.times().tolist() == [0.0, 10.0, 20.0]
    assert series.column("temperature").tolist() == [1.0, 3.0, 7.0]


def test_series_between_selects_the_visible_span():
    series = SensorSeries("s", capacity=100)
    for seq in range(10):
        series.add(sample(float(seq), seq))
    assert series.between(2.5, 5.0)[:, 0].tolist() == [3.0, 4.0, 5.0]


def test_series_version_changes_on_every_update():
    series = SensorSeries("s", capacity=10)
    v0 = series.version
    series.add(sample(1.0, 1))
    assert series.version > v0


@pytest.mark.parametrize("n, max_points", [(10_000, 1000), (100_000, 500), (50, 1000)])
def test_visible_points_clip_and_keep_peaks(n, max_points):
    t = np.arange(n, dtype=float)
    values = np.zeros((n, 4))
    values[n // 2, 0] = 99.0  # one spike must survive decimation
    values[n // 3, 3] = -5.0
    data = np.column_stack([t, values])
    rows = visible_points(data, 10.0, n - 10.0, max_points)
    assert len(rows) <= max_points + 64
    assert rows[:, 1].max() == 99.0 and rows[:, 4].min() == -5.0
    assert np.all(np.diff(rows[:, 0]) >= 0)
    assert rows[0, 0] <= 10.0 and rows[-1, 0] >= n - 10.0


def test_visible_points_of_a_narrow_view_are_its_rows_and_neighbours():
    data = np.column_stack([np.arange(100, dtype=float), np.zeros((100, 4))])
    assert visible_points(data, 20.5, 30.0, 1000)[:, 0].tolist() == list(range(20, 32))
