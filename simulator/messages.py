"""The simulated fleet: which message each slot produces, with sequence numbers and faults.

No Kafka here: `MessageSource` is a deterministic (given seed and clock) plan of messages, so
it is unit-tested on its own and the producer only ships what it returns.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

from simulator.encoding import ReadingJson, encode, reading
from simulator.faults import Action, FaultConfig, FaultPlan
from simulator.signals import DEFAULT_DAY_LENGTH_S, SensorSignal

_RECENT = 8  # how far back a duplicate may reach


class Kind(Enum):
    VALID = "valid"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"  # valid, sent after a later reading of the same sensor
    INVALID = "invalid"


@dataclass(frozen=True)
class Outgoing:
    """One message to send; `seq` is the valid reading's seq (None for invalid messages)."""

    sensor_id: str
    value: bytes
    kind: Kind
    seq: int | None = None
    invalid_kind: str | None = None

    @property
    def is_reading(self) -> bool:
        return self.kind is not Kind.INVALID


@dataclass
class _Sensor:
    sensor_id: str
    signal: SensorSignal
    next_seq: int
    held: Outgoing | None = None
    recent: deque[Outgoing] = field(default_factory=lambda: deque(maxlen=_RECENT))


def utc_now() -> datetime:
    return datetime.now(UTC)


def sensor_ids(prefix: str, count: int) -> list[str]:
    """`prefix` + a zero-padded index, e.g. sensor-000 … sensor-009."""
    width = max(3, len(str(count - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(count)]


class MessageSource:
    """Slot i belongs to sensor i mod N; a slot yields 0 (held back), 1 or 2 messages."""

    def __init__(
        self,
        ids: list[str],
        seed: int,
        *,
        start_seq: int = 0,
        faults: FaultConfig | None = None,
        day_length_s: float = DEFAULT_DAY_LENGTH_S,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not ids:
            raise ValueError("at least one sensor is needed")
        self._sensors = [_Sensor(s, SensorSignal(f"{seed}:{s}", day_length_s), start_seq) for s in ids]
        self._plan = FaultPlan(faults or FaultConfig(), random.Random(f"{seed}:faults"))
        self._clock = clock

    def slot(self, index: int, t: float) -> list[Outgoing]:
        """The messages of slot `index`, at `t` seconds since the run started."""
        sensor = self._sensors[index % len(self._sensors)]
        action = self._plan.action()
        if action is Action.DUPLICATE and sensor.recent:
            original = sensor.recent[self._plan.pick(len(sensor.recent))]
            return [Outgoing(sensor.sensor_id, original.value, Kind.DUPLICATE, original.seq)]
        now = self._clock()
        values = self._next_values(sensor, t, now)
        if action is Action.INVALID:
            kind = self._plan.invalid_kind()
            value = self._plan.invalid_message(kind, values, now)
            return [Outgoing(sensor.sensor_id, value, Kind.INVALID, invalid_kind=kind)]
        fresh = Outgoing(sensor.sensor_id, encode(values), Kind.VALID, sensor.next_seq)
        sensor.next_seq += 1
        if sensor.held is not None:
            late = Outgoing(sensor.sensor_id, sensor.held.value, Kind.OUT_OF_ORDER, sensor.held.seq)
            sensor.held = None
            return self._sent(sensor, [fresh, late])
        if self._plan.hold_back():
            sensor.held = fresh
            return []
        return self._sent(sensor, [fresh])

    def drain(self) -> list[Outgoing]:
        """Readings still held back at the end: sent in order, so not out of order after all."""
        out = []
        for sensor in self._sensors:
            if sensor.held is not None:
                out.extend(self._sent(sensor, [sensor.held]))
                sensor.held = None
        return out

    @staticmethod
    def _next_values(sensor: _Sensor, t: float, now: datetime) -> ReadingJson:
        # Invalid messages reuse the next seq without consuming it (sent == stored stays exact).
        return reading(sensor.sensor_id, sensor.next_seq, now, sensor.signal.sample(t))

    @staticmethod
    def _sent(sensor: _Sensor, messages: list[Outgoing]) -> list[Outgoing]:
        sensor.recent.extend(messages)
        return messages
