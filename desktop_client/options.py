"""What the dashboard is asked to show: URL, sensor filter, time window; plain data, no Qt."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

from protocol.bodies import STATS_BUCKET_MAX_S, STATS_MAX_POINTS
from protocol.quantities import QUANTITIES, TITLES, UNITS

__all__ = [
    "QUANTITIES",
    "STATS_MAX_POINTS",
    "TITLES",
    "UNITS",
]  # the dashboard's view of protocol/quantities.py

MINUTE, HOUR, DAY = 60, 3600, 86_400

# Time windows the selector offers, in seconds, keyed by their command-line spelling.
WINDOWS: dict[str, int] = {"1m": MINUTE, "10m": 10 * MINUTE, "1h": HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
WINDOW_LABELS: dict[str, str] = {"1m": "1 min", "10m": "10 min", "1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d"}

# Windows up to this long load raw readings; longer ones load /stats buckets.
RAW_HISTORY_MAX_S = 10 * MINUTE
# At most about this many points per sensor for a downsampled (stats) window.
STATS_POINTS = 480
# Buckets up to this wide are whole minutes (the web node's 1-minute rollups answer them),
# wider ones whole hours (its 1-hour rollups).
MINUTE_BUCKETS_MAX_S = 15 * MINUTE


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
    """Raw readings for short windows; for longer ones stats buckets of whole minutes or whole
    hours, so that the web node answers from its rollups, about STATS_POINTS per sensor or fewer:
    1 h -> 60 s, 24 h -> 180 s, 7 d -> 1 h, 30 d -> 2 h."""
    if window_s <= RAW_HISTORY_MAX_S:
        return HistoryPlan(window_s, 0)
    ideal = math.ceil(window_s / STATS_POINTS)
    step = MINUTE if ideal <= MINUTE_BUCKETS_MAX_S else HOUR
    return HistoryPlan(window_s, min(STATS_BUCKET_MAX_S, step * math.ceil(ideal / step)))


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
