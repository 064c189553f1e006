"""Fault injection: which slots carry invalid, duplicate or held-back readings, and the bad bytes.

Every invalid kind breaks exactly one rule of the Reading schema, so the stream app must send it
to the dead-letter topic; `tests/simulator/test_faults.py` checks each against `parse_reading`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from protocol.quantities import RANGES
from simulator.encoding import ReadingJson, encode, format_ts

MEASURED = RANGES  # each quantity's valid range: an out-of-range fault steps just outside it
FIELDS = ("sensor_id", "seq", "ts", *MEASURED)


class Action(Enum):
    FRESH = "fresh"
    INVALID = "invalid"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class FaultConfig:
    """Fractions of all messages; invalid + duplicate must leave room for fresh readings."""

    invalid_fraction: float = 0.0
    duplicate_fraction: float = 0.0
    out_of_order_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("invalid_fraction", "duplicate_fraction", "out_of_order_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if self.invalid_fraction + self.duplicate_fraction + self.out_of_order_fraction > 1.0:
            raise ValueError("invalid + duplicate + out-of-order fractions must not exceed 1")


class FaultPlan:
    """Seeded decisions, one per slot; the same seed gives the same faults."""

    def __init__(self, config: FaultConfig, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        fresh = 1.0 - config.invalid_fraction - config.duplicate_fraction
        # Holding back happens only to fresh readings: scale so the fraction is of all messages.
        self._hold_probability = min(config.out_of_order_fraction / fresh, 1.0) if fresh > 0 else 0.0

    def action(self) -> Action:
        u = self._rng.random()
        if u < self._config.invalid_fraction:
            return Action.INVALID
        if u < self._config.invalid_fraction + self._config.duplicate_fraction:
            return Action.DUPLICATE
        return Action.FRESH

    def hold_back(self) -> bool:
        return self._hold_probability > 0 and self._rng.random() < self._hold_probability

    def invalid_kind(self) -> str:
        return self._rng.choice(INVALID_KINDS)

    def pick(self, count: int) -> int:
        return self._rng.randrange(count)

    def invalid_message(self, kind: str, reading: ReadingJson, now: datetime) -> bytes:
        """The bytes of an invalid message of `kind`, derived from a valid `reading`."""
        return _MUTATORS[kind](dict(reading), self._rng, now)


def _malformed_json(reading: ReadingJson, rng: random.Random, now: datetime) -> bytes:
    good = encode(reading)
    variants = (
        lambda: good[: rng.randrange(1, len(good))],  # truncated: no proper prefix of an object parses
        lambda: good + b"}",
        lambda: repr(reading).encode(),  # Python repr: single quotes
        lambda: bytes([0xFF, 0xFE]) + good,  # not UTF-8
    )
    return rng.choice(variants)()


def _wrong_type(reading: ReadingJson, rng: random.Random, now: datetime) -> bytes:
    field = rng.choice(
        ("seq_string", "seq_float", "measure_string", "measure_bool", "measure_null", "sensor_id_number", "ts_number")
    )
    measure = rng.choice(tuple(MEASURED))
    if field == "seq_string":
        reading["seq"] = str(reading["seq"])
    elif field == "seq_float":
        reading["seq"] = float(reading["seq"]) + 0.5
    elif field == "measure_string":
        reading[measure] = str(reading[measure])
    elif field == "measure_bool":
        reading[measure] = rng.choice((True, False))
    elif field == "measure_null":
        reading[measure] = None
    elif field == "sensor_id_number":
        reading["sensor_id"] = rng.randrange(1000)
    else:
        reading["ts"] = now.timestamp()
    return encode(reading)


def _nan(reading: ReadingJson, rng: random.Random, now: datetime) -> bytes:
    reading[rng.choice(tuple(MEASURED))] = math.nan  # json.dumps writes the bare token NaN
    return encode(reading)


def _infinity(reading: ReadingJson, rng: random.Random, now: datetime) -> bytes:
    reading[rng.choice(tuple(MEASURED))] = rng.choice((math.inf, -math.inf))
    return encode(reading)


def _out_of_range(reading: ReadingJson, rng: random.Random, now: datetime) -> bytes:
    field = rng.choice((*MEASURED, "seq"))
    if field == "seq":
        reading["seq"] = -rng.randint(1, 1000)
    else:
        low, high = MEASURED[field]
        excess = round(rng.uniform(0.01, 200.0), 2)
        reading[field] = round(high + excess, 2) if rng.random() < 0.5 else round(low - excess, 2)
    return encode(reading)


def _bad_sensor_id(reading: ReadingJson, rng: random.Random, now: datetime) -> bytes:
    sensor_id = str(reading["sensor_id"])
    reading["sensor_id"] = rng.choice((sensor_id + " x", sensor_id + "/1", "", "s" * 65))
    return encode(reading)


def _missing_field(reading: ReadingJson, rng: random.Random, now: datetime) -> bytes:
    del reading[rng.choice(FIELDS)]
    return encode(reading)


def _extra_field(reading: ReadingJson, rng: random.Random, now: datetime) -> bytes:
    extra = rng.choice((("firmware", "2.1.0"), ("temperature_f", 70.1), ("debug", True)))
    reading[extra[0]] = extra[1]
    return encode(reading)


def _future_ts(reading: ReadingJson, rng: random.Random, now: datetime) -> bytes:
    # Well past the schema's 5-minute tolerance, so clock skew cannot make it valid.
    reading["ts"] = format_ts(now + timedelta(seconds=rng.uniform(900.0, 86_400.0)))
    return encode(reading)


_MUTATORS: dict[str, Callable[[ReadingJson, random.Random, datetime], bytes]] = {
    "malformed_json": _malformed_json,
    "wrong_type": _wrong_type,
    "nan": _nan,
    "infinity": _infinity,
    "out_of_range": _out_of_range,
    "bad_sensor_id": _bad_sensor_id,
    "missing_field": _missing_field,
    "extra_field": _extra_field,
    "future_ts": _future_ts,
}
INVALID_KINDS: tuple[str, ...] = tuple(_MUTATORS)
