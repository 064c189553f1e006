"""Realistic, deterministic per-sensor signals that always stay inside the Reading ranges.

Each quantity is a mean-reverting random walk (an Ornstein-Uhlenbeck process, sampled exactly
for any time step) around a baseline that follows a daily cycle. The "day" is compressed to
`day_length_s` seconds so the cycle shows within minutes. Humidity moves against temperature,
pressure drifts slowly, the battery drains and is swapped when nearly empty.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from protocol.quantities import RANGES

# The Reading ranges (protocol/quantities.py, what Measurements is built from); every emitted
# value is clamped into them.
TEMPERATURE_RANGE = RANGES["temperature"]
HUMIDITY_RANGE = RANGES["humidity"]
PRESSURE_RANGE = RANGES["pressure"]
BATTERY_RANGE = RANGES["battery"]

DEFAULT_DAY_LENGTH_S = 300.0
_BATTERY_SWAP_BELOW = 5.0


@dataclass(frozen=True)
class SignalSample:
    """One sample of the four measured quantities."""

    temperature: float
    humidity: float
    pressure: float
    battery: float


@dataclass
class _Walk:
    """An Ornstein-Uhlenbeck deviation: reverts to 0 with time constant `tau_s`, spread `sigma`."""

    sigma: float
    tau_s: float
    value: float = 0.0

    def advance(self, dt: float, rng: random.Random) -> float:
        if dt > 0:
            decay = math.exp(-dt / self.tau_s)
            self.value = self.value * decay + self.sigma * math.sqrt(1 - decay * decay) * rng.gauss(0, 1)
        return self.value


def clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


class SensorSignal:
    """The physical state of one sensor; `sample(t)` advances it to `t` seconds since start."""

    def __init__(self, seed: str | int, day_length_s: float = DEFAULT_DAY_LENGTH_S) -> None:
        if day_length_s <= 0:
            raise ValueError(f"day_length_s must be > 0, got {day_length_s!r}")
        self._rng = random.Random(seed)
        rng, day = self._rng, day_length_s
        self._day = day
        self._phase = rng.uniform(0, 2 * math.pi)
        self._temp_base = rng.uniform(8.0, 24.0)
        self._temp_amplitude = rng.uniform(2.0, 7.0)
        self._humidity_base = rng.uniform(45.0, 70.0)
        self._humidity_per_degree = rng.uniform(1.5, 3.0)
        self._pressure_base = rng.uniform(995.0, 1030.0)
        self._battery = rng.uniform(60.0, 100.0)
        self._drain_per_s = rng.uniform(3.0, 8.0) / day  # percent per (compressed) day
        self._temp_walk = _Walk(sigma=1.5, tau_s=0.05 * day)
        self._humidity_walk = _Walk(sigma=4.0, tau_s=0.05 * day)
        self._pressure_walk = _Walk(sigma=6.0, tau_s=0.5 * day)
        self._t = 0.0

    def sample(self, t: float) -> SignalSample:
        """The measurements at `t` (seconds since start; earlier times do not rewind the state)."""
        dt = max(t - self._t, 0.0)
        self._t = max(t, self._t)
        rng = self._rng
        cycle = math.sin(2 * math.pi * self._t / self._day + self._phase)
        temp = self._temp_base + self._temp_amplitude * cycle + self._temp_walk.advance(dt, rng)
        temp_anomaly = temp - self._temp_base
        humidity = self._humidity_base - self._humidity_per_degree * temp_anomaly + self._humidity_walk.advance(dt, rng)
        pressure = self._pressure_base + self._pressure_walk.advance(dt, rng)
        return SignalSample(
            temperature=_noisy(temp, 0.05, TEMPERATURE_RANGE, rng),
            humidity=_noisy(humidity, 0.3, (2.0, 99.5), rng),
            pressure=_noisy(pressure, 0.1, (870.0, 1085.0), rng),
            battery=round(clamp(self._drain(dt), BATTERY_RANGE), 2),
        )

    def _drain(self, dt: float) -> float:
        self._battery -= self._drain_per_s * dt
        if self._battery < _BATTERY_SWAP_BELOW:
            self._battery = self._rng.uniform(95.0, 100.0)  # someone swapped the battery
        return self._battery


def _noisy(value: float, noise: float, bounds: tuple[float, float], rng: random.Random) -> float:
    """Add measurement noise, round like a real sensor, and keep the value physically plausible."""
    return round(clamp(value + rng.gauss(0, noise), bounds), 2)
