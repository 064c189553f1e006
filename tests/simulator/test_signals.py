"""Sensor signals: always inside the Reading ranges, deterministic, and physically plausible."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from protocol.readings import QUANTITIES, ReadingIn
from simulator.signals import (
    BATTERY_RANGE,
    HUMIDITY_RANGE,
    PRESSURE_RANGE,
    TEMPERATURE_RANGE,
    SensorSignal,
    SignalSample,
)

# The valid ranges as the Reading schema declares them (not the simulator's own constants).
RANGES = {
    q: (p["minimum"], p["maximum"]) for q, p in ReadingIn.model_json_schema()["properties"].items() if q in QUANTITIES
}


def test_clamp_ranges_are_the_reading_schemas() -> None:
    clamps = (TEMPERATURE_RANGE, HUMIDITY_RANGE, PRESSURE_RANGE, BATTERY_RANGE)
    assert dict(zip(QUANTITIES, clamps, strict=True)) == RANGES


def series(seed: object, steps: int, dt: float = 1.0, day_length_s: float = 300.0) -> list[SignalSample]:
    signal = SensorSignal(seed, day_length_s)
    return [signal.sample(i * dt) for i in range(steps)]


def assert_in_range(samples: list[SignalSample]) -> None:
    for field, (low, high) in RANGES.items():
        values = [getattr(m, field) for m in samples]
        assert low <= min(values) and max(values) <= high, field


@pytest.mark.parametrize("seed", [0, 1, 2, "7:sensor-003"])
def test_stays_in_range_over_100k_steps(seed: object) -> None:
    assert_in_range(series(seed, 100_000))


@pytest.mark.parametrize("seed", [3, 4])
def test_stays_in_range_with_irregular_and_huge_steps(seed: object) -> None:
    rng = random.Random(seed)
    signal, t, samples = SensorSignal(seed, day_length_s=60.0), 0.0, []
    for _ in range(100_000):
        t += rng.choice((0.0, 0.001, 1.0, 60.0, 3600.0))
        samples.append(signal.sample(t))
    assert_in_range(samples)


def test_same_seed_same_signal() -> None:
    assert series("s", 2000) == series("s", 2000)


def test_different_seeds_differ() -> None:
    assert series("a", 200) != series("b", 200)


def test_values_are_rounded_like_a_sensor() -> None:
    for m in series(5, 100):
        for field in RANGES:
            value = getattr(m, field)
            assert round(value, 2) == value


def test_humidity_moves_against_temperature() -> None:
    samples = series(11, 20_000)
    temps, hums = [m.temperature for m in samples], [m.humidity for m in samples]
    assert statistics.correlation(temps, hums) < -0.3


def test_the_daily_cycle_shows_within_one_compressed_day() -> None:
    samples = series(12, 300, dt=1.0, day_length_s=300.0)
    temps = [m.temperature for m in samples]
    assert max(temps) - min(temps) > 3.0  # the cycle's amplitude is at least 2 °C each way


def test_pressure_drifts_slowly() -> None:
    samples = series(13, 10_000)
    steps = [abs(a.pressure - b.pressure) for a, b in itertools.pairwise(samples)]
    assert statistics.mean(steps) < 1.0
    assert 950 < statistics.mean(m.pressure for m in samples) < 1060


def test_battery_drains_then_is_swapped() -> None:
    samples = series(14, 40_000, dt=1.0, day_length_s=60.0)
    battery = [m.battery for m in samples]
    rises = [b - a for a, b in itertools.pairwise(battery) if b > a]
    assert rises, "the battery should have been swapped at least once"
    assert all(r > 50 for r in rises)  # it only ever goes up when swapped
    assert battery[1] <= battery[0]


def test_repeated_or_earlier_times_do_not_rewind() -> None:
    # an earlier time is taken as the latest one again: the same state as repeating that time
    rewound, repeated = SensorSignal(15), SensorSignal(15)
    first = rewound.sample(100.0)
    assert repeated.sample(100.0) == first
    earlier = rewound.sample(50.0)
    assert earlier == repeated.sample(100.0)
    assert earlier.battery == first.battery  # no time passed: no drain, and no charge back


def test_day_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="day_length_s"):
        SensorSignal(0, day_length_s=0)
