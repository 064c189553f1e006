"""The web node's JSON (docs/API.md) turned into plain client-side records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from desktop_client.options import QUANTITIES, HistoryPlan


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
    """RFC 3339 text or unix seconds -> unix seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value)
        except ValueError as exc:
            raise WireError(f"bad timestamp {value!r}") from exc
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return ts.timestamp()
    raise WireError(f"bad timestamp {value!r}")


def parse_sample(obj: dict) -> Sample:
    try:
        return Sample(
            str(obj["sensor_id"]), int(obj["seq"]), parse_time(obj["ts"]), tuple(float(obj[q]) for q in QUANTITIES)
        )  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"bad reading {obj!r:.200}: {exc}") from exc


def parse_sensors(body: dict) -> list[SensorInfo]:
    try:
        rows = body["sensors"]
        return [
            SensorInfo(
                str(r["sensor_id"]),
                int(r.get("count") or 0),
                parse_time(r["last_seen"]) if r.get("last_seen") else None,
                parse_sample(r["latest"]) if r.get("latest") else None,
            )
            for r in rows
        ]
    except (KeyError, TypeError) as exc:
        raise WireError(f"bad /sensors answer: {exc}") from exc


def parse_stats(body: dict) -> list[Block]:
    """Stats series -> one Block per sensor of bucket means, oldest first."""
    try:
        blocks = []
        for series in body["series"]:
            points = sorted(series["points"], key=lambda p: parse_time(p["t"]))
            t = np.array([parse_time(p["t"]) for p in points], dtype=float)
            values = np.array([[_mean(p.get(q)) for q in QUANTITIES] for p in points], dtype=float).reshape(
                -1, len(QUANTITIES)
            )
            counts = np.array([int(p.get("count") or 1) for p in points], dtype=np.int64)
            blocks.append(Block(str(series["sensor_id"]), t, values, counts=counts))
        return blocks
    except (KeyError, TypeError) as exc:
        raise WireError(f"bad /stats answer: {exc}") from exc


def _mean(cell: object) -> float:
    if isinstance(cell, dict) and cell.get("mean") is not None:
        return float(cell["mean"])
    return float("nan")
