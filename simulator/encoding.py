"""The bytes a sensor puts on the `readings` topic: JSON with an RFC 3339 UTC timestamp."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from simulator.signals import SignalSample

ReadingJson = dict[str, object]  # a reading as JSON-ready values, before encoding
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=True)


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-24T14:00:00.123456Z."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reading(sensor_id: str, seq: int, ts: datetime, measurements: SignalSample) -> ReadingJson:
    """A reading as a JSON-ready dict, fields in schema order."""
    return {
        "sensor_id": sensor_id,
        "seq": seq,
        "ts": format_ts(ts),
        "temperature": measurements.temperature,
        "humidity": measurements.humidity,
        "pressure": measurements.pressure,
        "battery": measurements.battery,
    }


def encode(value: ReadingJson) -> bytes:
    """Compact JSON; NaN and infinities come out as bare tokens (only faults produce them)."""
    return _ENCODER.encode(value).encode()


def message_key(sensor_id: str) -> bytes:
    """The Kafka key: the sensor id, so one sensor's readings stay in one partition, in order."""
    return sensor_id.encode()
