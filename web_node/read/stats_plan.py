"""`/api/v1/stats` planned before it runs: its cost is bounded up front, then its range is
answered from cached closed pieces and computed edges (web_node/read/stats_cache.py).

Refused with 400 naming `bucket`, before any query: more buckets × sensors than
STATS_MAX_POINTS (the sensors asked for, or every sensor kept when none is named), and a bucket
that is not a whole number of minutes over more than RAW_RANGE_MAX_S (no rollup holds such
buckets, so they come from raw rows, scanned along the (sensor_id, ts) index within the range).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from multidict import MultiMapping
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.bodies import STATS_MAX_POINTS
from protocol.readings import MAX_FUTURE_S, QUANTITIES, rfc3339
from web_node import jsonio
from web_node.errors import ApiError
from web_node.read import params, stats_queries
from web_node.read.stats_cache import Fragment, StatsCache, piece_width, split

RAW_RANGE_MAX_S = 86_400  # the longest range a bucket that is not a whole number of minutes may span

Points = dict[str, Fragment]  # per sensor, in one part of the range


def check_cost(
    query: MultiMapping[str], *, since: float, until: float | None, bucket: int, now: float, sensors: int
) -> None:
    """Refuse (ApiError 400) a request whose cost is out of bounds, from its parameters alone."""
    end = until if until is not None else now + MAX_FUTURE_S
    buckets = math.ceil(end / bucket) - math.floor(since / bucket)
    if buckets * max(1, sensors) > STATS_MAX_POINTS:
        raise too_many_points(query, bucket, f"{buckets} buckets × {max(1, sensors)} sensor(s)")
    if bucket % 60 and end - since > RAW_RANGE_MAX_S:
        raise params.invalid(
            "bucket",
            query.get("bucket", str(bucket)),
            "a bucket that is not a whole number of minutes is computed from raw readings, over at most "
            f"{RAW_RANGE_MAX_S} s of since..until; use a multiple of 60 s or a shorter range",
        )


def too_many_points(query: MultiMapping[str], bucket: int, why: str) -> ApiError:
    return params.invalid(
        "bucket",
        query.get("bucket", str(bucket)),
        f"{why} exceed {STATS_MAX_POINTS} points per answer; use a larger bucket, "
        "a shorter since..until or fewer sensors",
    )


@dataclass(frozen=True)
class StatsPlan:
    since: float
    until: float | None
    bucket: int
    sensor_ids: Sequence[str]
    raw_since: float

    async def run(self, conn: AsyncConnection, cache: StatsCache, now: float) -> list[Points] | None:
        """The answer's parts in time order, or None if they hold more than STATS_MAX_POINTS."""
        width = piece_width(self.bucket)
        head_end, starts, tail_start = split(self.since, self.until, now, width) if width else (0, [], 0)
        if not starts:
            rows = await self._rows(conn, (self.since, self.until))
            return None if rows is None else [_rows_points(rows, self.bucket)]
        stamp = cache.marks.watermark  # before any query: what they read includes every mark up to it
        cached = {start: cache.get(self._key(start), start, width) for start in starts}
        computed: dict[int, Points] = {}
        for low, high in _runs([start for start, piece in cached.items() if piece is None], width):
            rows = await self._rows(conn, (low, high))
            if rows is None:
                return None
            for start, piece_rows in _by_piece(rows, self.bucket, width, low, high).items():
                computed[start] = _rows_points(piece_rows, self.bucket)
                cache.put(self._key(start), computed[start], stamp)
        edges = await self._rows(conn, (self.since, head_end), (tail_start, self.until))
        if edges is None:
            return None
        head, tail = (_rows_points(rows, self.bucket) for rows in _split_at(edges, head_end // self.bucket))
        parts = [head, *(piece.points if piece else computed[start] for start, piece in cached.items()), tail]
        return parts if _count(parts) <= STATS_MAX_POINTS else None

    def _key(self, start: int) -> tuple:
        return (tuple(self.sensor_ids), self.bucket, start)

    async def _rows(self, conn: AsyncConnection, *ranges: tuple[float, float | None]) -> list[Row] | None:
        """The rows of these [low, high) ranges (sharing no bucket) in one query, or None if more
        than STATS_MAX_POINTS."""
        rows = await stats_queries.stats_of_ranges(
            conn,
            ranges,
            bucket=self.bucket,
            sensor_ids=self.sensor_ids,
            limit=STATS_MAX_POINTS + 1,
            raw_since=self.raw_since,
        )
        return None if len(rows) > STATS_MAX_POINTS else rows


def _split_at(rows: list[Row], index: int) -> tuple[list[Row], list[Row]]:
    """Rows (by sensor, then bucket) as those of buckets before `index` and those from it on."""
    before: list[Row] = []
    after: list[Row] = []
    for row in rows:
        (before if row[1] < index else after).append(row)
    return before, after


def _by_piece(rows: list[Row], bucket: int, width: int, low: int, high: int) -> dict[int, list[Row]]:
    """A run's rows by the piece they lie in (every piece of the run, empty ones too)."""
    pieces: dict[int, list[Row]] = {start: [] for start in range(int(low), int(high), width)}
    for row in rows:
        pieces[row[1] * bucket // width * width].append(row)
    return pieces


def _runs(starts: list[int], width: int) -> list[tuple[float, float]]:
    """Consecutive piece starts as [low, high) ranges, one query each."""
    runs: list[tuple[float, float]] = []
    for start in starts:
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], start + width)
        else:
            runs.append((start, start + width))
    return runs


def _count(parts: list[Points] | list[Points | None]) -> int:
    return sum(n for part in parts if part for n, _ in part.values())


def _rows_points(rows: list[Row], bucket: int) -> Points:
    """Rows by sensor, then bucket (sensor_id, index, count, then min, max, mean per quantity) as
    each sensor's points in JSON."""
    series: dict[str, list[dict[str, Any]]] = {}
    times: dict[int, str] = {}  # every sensor has the same buckets: each time is written once
    for sensor_id, index, count, *cells in rows:
        if (t := times.get(index)) is None:
            t = times[index] = rfc3339(max(index * bucket, params.MIN_UNIX_S))
        point: dict[str, Any] = {"t": t, "count": count}
        triples = iter(cells)
        for quantity, low, high, mean in zip(QUANTITIES, triples, triples, triples, strict=True):
            point[quantity] = {"min": low, "max": high, "mean": mean}
        series.setdefault(sensor_id, []).append(point)
    return {sensor_id: (len(points), jsonio.dumps(points)[1:-1]) for sensor_id, points in series.items()}


def render(bucket: int, parts: list[Points]) -> bytes:
    """The stats answer, `{"bucket_s", "series": [{"sensor_id", "points"}]}`, from its parts:
    series by sensor_id, points in time order (the parts are)."""
    sensor_ids = sorted({sensor_id for part in parts for sensor_id in part})
    series = []
    for sensor_id in sensor_ids:
        fragments = b",".join(part[sensor_id][1] for part in parts if sensor_id in part)
        series.append(b'{"sensor_id":' + jsonio.dumps(sensor_id) + b',"points":[' + fragments + b"]}")
    return b'{"bucket_s":' + str(bucket).encode() + b',"series":[' + b",".join(series) + b"]}"
