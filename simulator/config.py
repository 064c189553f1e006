"""What one simulator run does: the typed options `run()` takes (the CLI builds them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.settings import Settings
from simulator.faults import FaultConfig
from simulator.signals import DEFAULT_DAY_LENGTH_S

_SENSOR_ID = re.compile(r"^[A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class Progress:
    """A once-a-second snapshot for the progress line."""

    elapsed_s: float
    submitted: int
    delivered: int
    failed: int
    rate: float  # messages delivered per second over the last interval


@dataclass(frozen=True)
class SimulatorConfig:
    """One run: `count` messages, or `duration_s` seconds, or (neither) until interrupted.

    `rate` is messages per second over all sensors (0 = as fast as possible); every message
    counts, valid or not. Sensor i's seqs start at `start_seq` and increase by one per valid
    reading; invalid messages consume no seq.
    """

    bootstrap: str
    topic: str
    partitions: int | None = None  # create `topic` with this many partitions when it is missing
    sensors: int = 10
    rate: float = 100.0
    count: int | None = None
    duration_s: float | None = None
    seed: int = 0
    sensor_prefix: str = "sensor-"
    start_seq: int = 0
    faults: FaultConfig = field(default_factory=FaultConfig)
    day_length_s: float = DEFAULT_DAY_LENGTH_S
    summary_json: Path | None = None
    flush_timeout_s: float = 120.0
    progress: Callable[[Progress], None] | None = None
    producer_options: dict[str, Any] = field(default_factory=dict)
    # how to connect (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*, TOPIC_REPLICATION);
    # None: from the environment. `bootstrap` above wins over its KAFKA_BOOTSTRAP.
    kafka: Settings | None = None

    def __post_init__(self) -> None:
        _require(self.sensors >= 1, "sensors", self.sensors, "must be >= 1")
        _require(self.rate >= 0, "rate", self.rate, "must be >= 0 (0 = as fast as possible)")
        _require(self.count is None or self.count >= 0, "count", self.count, "must be >= 0")
        _require(self.duration_s is None or self.duration_s >= 0, "duration_s", self.duration_s, "must be >= 0")
        _require(self.start_seq >= 0, "start_seq", self.start_seq, "must be >= 0")
        _require(self.day_length_s > 0, "day_length_s", self.day_length_s, "must be > 0")
        _require(
            bool(_SENSOR_ID.match(self.sensor_prefix)) and len(self.sensor_prefix) <= 56,
            "sensor_prefix",
            self.sensor_prefix,
            "must be <= 56 characters of [A-Za-z0-9_.-]",
        )


def _require(ok: bool, name: str, value: object, rule: str) -> None:
    if not ok:
        raise ValueError(f"{name} {rule}, got {value!r}")
