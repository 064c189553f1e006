"""What the dashboard is asked to show: URL, sensor filter, time window; plain data, no Qt."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

from protocol.readings import QUANTITIES, TITLES, UNITS

__all__ = ["QUANTITIES", "TITLES", "UNITS"]  # the dashboard's view of protocol.readings.Measurements

# Time windows the selector offers, in seconds, keyed by their command-line spelling.
WINDOWS: dict[str, int] = {"1m": 60, "10m": 600, "1h": 3600, "24h": 86400}
WINDOW_LABELS: dict[str, str] = {"1m": "1 min", "10m": "10 min", "1h": "1 h", "24h": "24 h"}

# Windows up to this long load raw readings; longer ones load /stats buckets.
RAW_HISTORY_MAX_S = 600
# About this many points per sensor for a downsampled (stats) window.
STATS_POINTS = 480
# /api/v1/stats answers at most this many points.
STATS_MAX_POINTS = 10_000


@dataclass(frozen=True)
class HistoryPlan:
    """How to load the history of one time window: raw readings or stats buckets."""

    window_s: int
    bucket_s: int  # 0 means raw readings

    @property
    def raw(self) -> bool:
        return self.bucket_s == 0

    @property
    def points_per_sensor(self) -> int:
        return self.window_s if self.raw else math.ceil(self.window_s / self.bucket_s) + 1

    def sensors_per_stats_request(self) -> int:
        """How many sensors one /stats call may cover without passing the server's point cap."""
        return max(1, STATS_MAX_POINTS // self.points_per_sensor)


def plan_for(window_s: int) -> HistoryPlan:
    if window_s <= RAW_HISTORY_MAX_S:
        return HistoryPlan(window_s, 0)
    return HistoryPlan(window_s, max(1, math.ceil(window_s / STATS_POINTS)))


@dataclass(frozen=True)
class SensorFilter:
    """Which sensors to show: exact ids or shell-style patterns (`kitchen-*`); empty = all."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> SensorFilter:
        if not text:
            return cls()
        return cls(tuple(p.strip() for p in text.split(",") if p.strip()))

    def accepts(self, sensor_id: str) -> bool:
        return not self.patterns or any(fnmatch.fnmatchcase(sensor_id, p) for p in self.patterns)

    @property
    def exact_ids(self) -> tuple[str, ...] | None:
        """The ids to ask the server for, or None when patterns need client-side filtering."""
        if not self.patterns or any(ch in p for p in self.patterns for ch in "*?["):
            return None
        return self.patterns


@dataclass(frozen=True)
class ClientOptions:
    """Everything the dashboard is configured with; built by `main` from argv and env."""

    url: str
    sensors: SensorFilter = field(default_factory=SensorFilter)
    window: str = "10m"
    capacity: int = 10_000
    redraw_ms: int = 100
    backoff_max_s: float = 10.0
    token: str | None = field(default=None, repr=False)  # a reader token, sent as `Authorization: Bearer`
    ca_file: Path | None = None  # verifies an https:// web node (None: the system's trust store)

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ValueError(f"unknown window {self.window!r}; choose one of {', '.join(WINDOWS)}")
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, not {self.capacity}")

    @property
    def window_s(self) -> int:
        return WINDOWS[self.window]
