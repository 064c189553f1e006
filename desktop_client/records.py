"""The web node's JSON (docs/API.md), validated against the protocol's models, as plain records.

Readings are checked against `protocol.readings.ReadingOut` (its field rules, into plain dicts:
about 1 µs a live message), answers against `protocol.bodies`; fields the client does not know
are ignored, so a newer web node may add some.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, TypeAdapter, ValidationError

from desktop_client.options import QUANTITIES, HistoryPlan
from protocol.bodies import SensorList, Stats
from protocol.readings import ReadingOut, UtcTimestamp, describe_errors, reading_validator


class WireError(ValueError):
    """A web node answer the client cannot understand."""


@dataclass(frozen=True)
class Sample:
    """One reading: `t` in unix seconds, `values` in QUANTITIES order."""

    sensor_id: str
    seq: int
    t: float
    values: tuple[float, float, float, float]


@dataclass(frozen=True)
class SensorInfo:
    """A row of GET /api/v1/sensors."""

    sensor_id: str
    count: int
    last_seen: float | None
    latest: Sample | None


@dataclass(frozen=True)
class Block:
    """A sensor's history in one window: times, values (n × 4), and seqs (raw) or counts (stats)."""

    sensor_id: str
    t: np.ndarray
    values: np.ndarray
    seq: np.ndarray | None = None
    counts: np.ndarray | None = None

    @classmethod
    def empty(cls, sensor_id: str) -> Block:
        return cls(sensor_id, np.empty(0), np.empty((0, len(QUANTITIES))), np.empty(0, dtype=np.int64))

    @classmethod
    def from_samples(cls, sensor_id: str, samples: list[Sample]) -> Block:
        samples = sorted(samples, key=lambda s: s.t)
        return cls(
            sensor_id,
            np.array([s.t for s in samples], dtype=float),
            np.array([s.values for s in samples], dtype=float).reshape(-1, len(QUANTITIES)),
            np.array([s.seq for s in samples], dtype=np.int64),
        )


@dataclass(frozen=True)
class History:
    """A loaded time window: which request it answers, its plan and span, the sensors' blocks."""

    generation: int
    plan: HistoryPlan
    since: float
    until: float
    blocks: list[Block]


def parse_time(value: object) -> float:
    """RFC 3339 text (with an offset) or unix seconds -> unix seconds."""
    try:
        return _TIMESTAMP.validate_python(value).timestamp()
    except ValidationError as exc:
        raise WireError(f"bad timestamp {value!r:.100}: {_why(exc)}") from exc


def parse_sample(raw: Mapping[str, Any] | str | bytes) -> Sample:
    """A reading of the web node (a JSON object, or its text), validated against ReadingOut;
    fields the client does not know are ignored."""
    try:
        if isinstance(raw, (str, bytes)):
            fields = reading_validator(ReadingOut).validate_json(raw, extra="ignore")[0]
        else:
            fields = reading_validator(ReadingOut).validate_python(raw, extra="ignore")[0]
    except ValidationError as exc:
        raise WireError(f"bad reading {raw!r:.200}: {_why(exc)}") from exc
    return _sample(fields)


def parse_page(body: Mapping[str, Any]) -> tuple[list[Sample], float | None]:
    """A page of GET /api/v1/sensors/{id}/readings: its readings, and `next_until` (None: the last page)."""
    readings, next_until = body.get("readings"), body.get("next_until")
    if not isinstance(readings, list):
        raise WireError(f"bad readings page: `readings` is {type(readings).__name__}, not a list")
    return [parse_sample(r) for r in readings], None if next_until is None else parse_time(next_until)


def parse_sensors(body: Mapping[str, Any]) -> tuple[list[SensorInfo], str | None]:
    """A page of GET /api/v1/sensors (validated against `protocol.bodies.SensorList`) and its
    `next_after` (None: the last page)."""
    answer = validated(SensorList, body, "/sensors")
    infos = [SensorInfo(s.sensor_id, s.count, s.last_seen.timestamp(), _sample(vars(s.latest))) for s in answer.sensors]
    return infos, answer.next_after


def parse_stats(body: Mapping[str, Any]) -> list[Block]:
    """GET /api/v1/stats (validated against `protocol.bodies.Stats`) -> one Block of bucket means per sensor."""
    answer = validated(Stats, body, "/stats")
    blocks = []
    for series in answer.series:
        points = sorted(series.points, key=lambda p: p.t)
        t = np.array([p.t.timestamp() for p in points], dtype=float)
        means = [[getattr(p, q).mean for q in QUANTITIES] for p in points]
        values = np.array(means, dtype=float).reshape(-1, len(QUANTITIES))
        counts = np.array([p.count for p in points], dtype=np.int64)
        blocks.append(Block(series.sensor_id, t, values, counts=counts))
    return blocks


_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(UtcTimestamp)
_Model = TypeVar("_Model", bound=BaseModel)


def _sample(fields: Mapping[str, Any]) -> Sample:
    values = tuple(float(fields[q]) for q in QUANTITIES)
    return Sample(fields["sensor_id"], fields["seq"], fields["ts"].timestamp(), values)  # type: ignore[arg-type]


def validated(model: type[_Model], body: object, what: str) -> _Model:
    """`body` as `model` (unknown fields ignored), or a WireError naming `what` and the fields at fault."""
    try:
        return model.model_validate(body, extra="ignore")
    except ValidationError as exc:
        raise WireError(f"bad {what} answer: {_why(exc)}") from exc


def _why(exc: ValidationError) -> str:
    return describe_errors(exc.errors(include_url=False))
