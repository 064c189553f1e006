"""Stats that are cheap to repeat: closed, aligned pieces computed once and reused (the
split-and-cache of Thanos' and Mimir's query frontends), never stale.

A stats range is split at multiples of the piece width (the least common multiple of the bucket
and an hour, so a piece holds whole buckets and whole hours). A piece that ended before now is
cached, keyed by (sensors, bucket, piece start), as its rendered JSON points per sensor; the
edges before the first and after the last whole piece are computed per request.

Never stale: every write marks the hours it changed in the database (web_node/write/marks.py);
`ChangeMarks` polls them every POLL_S and a cached piece of an hour marked after the piece was
computed is dropped and computed again. So a reading stored late into an old bucket is in every
answer within POLL_S (plus one query), on every web node process, and the ETag of an answer
names the marks of the hours it covers (web_node/read/etags.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy import BigInteger, bindparam, column, func, select, table

from web_node.appkeys import stats_cache_key, storage_key
from web_node.read import etags, queries
from web_node.storage_errors import storage_errors
from web_node.write.marks import HOUR_S, TABLE

log = logging.getLogger(__name__)

POLL_S = 0.25  # a change is seen by every process within this (the issue allows 1 s)
STALE_S = 1.0  # marks polled longer ago than this are not trusted: no cache, no 304
CACHE_BYTES = 64 * 1024 * 1024  # rendered points kept, least recently used dropped first
ANSWERS_BYTES = 32 * 1024 * 1024  # whole answers kept by ETag (web_node/read/etags.py), the same way

_MARKS = table(TABLE, column("hour"), column("mark"))

Fragment = tuple[int, bytes]  # a sensor's points in a piece: how many, and their JSON, comma-joined


@dataclass
class Piece:
    points: dict[str, Fragment]
    stamp: int  # the highest mark seen before it was computed
    size: int


@dataclass
class ChangeMarks:
    """The database's change marks as this process last polled them."""

    hours: dict[int, int] = field(default_factory=dict)
    watermark: int = 0  # the highest mark seen
    sensors: int = 0  # how many sensors anything is kept of (the point cap counts them)
    polled_at: float = float("-inf")  # time.monotonic() of the last poll that succeeded

    @property
    def current(self) -> bool:
        return time.monotonic() - self.polled_at <= STALE_S

    def of(self, since: float, until: float | None) -> int:
        """The highest mark of the hours [since, until) touches (the watermark if open-ended)."""
        if until is None:
            return self.watermark
        first, last = math.floor(since / HOUR_S), math.ceil(until / HOUR_S)
        if last - first > len(self.hours):
            return max((m for h, m in self.hours.items() if since - HOUR_S < h < until), default=0)
        return max((self.hours.get(h * HOUR_S, 0) for h in range(first, last)), default=0)

    async def poll(self, storage) -> None:
        """Read the marks set since the last poll (>=: a mark may be shared by two writes)."""
        since = select(_MARKS.c.hour, _MARKS.c.mark).where(_MARKS.c.mark >= self.watermark)
        with storage_errors("read"):
            async with storage.feeds.connect() as conn:  # not queued behind the requests' reads
                rows = (await conn.execute(since)).all()
                sensors = (await conn.execute(select(func.count()).select_from(queries.summary))).scalar_one()
        for hour, mark in rows:
            self.hours[hour] = mark
            self.watermark = max(self.watermark, mark)
        self.sensors = sensors
        self.polled_at = time.monotonic()


async def marks_now(conn, since: float | None = None, until: float | None = None) -> int:
    """`ChangeMarks.of` as the database holds the marks now, read on `conn` (not as last polled)."""
    if until is None or since is None:
        return (await conn.execute(_HIGHEST_MARK)).scalar_one()
    hours = {"first": math.floor(since / HOUR_S) * HOUR_S, "last": math.ceil(until / HOUR_S) * HOUR_S}
    return (await conn.execute(_HIGHEST_MARK_OF_HOURS, hours)).scalar_one()


# built once (a statement costs more to build than to run)
_HIGHEST_MARK = select(func.coalesce(func.max(_MARKS.c.mark), 0))
_HIGHEST_MARK_OF_HOURS = _HIGHEST_MARK.where(
    _MARKS.c.hour >= bindparam("first", type_=BigInteger), _MARKS.c.hour < bindparam("last", type_=BigInteger)
)


class StatsCache:
    """The pieces of this process, and the marks they are checked against; whole answers by ETag."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.marks = ChangeMarks()
        self.answers = etags.Answers(ANSWERS_BYTES)
        self._pieces: OrderedDict[tuple, Piece] = OrderedDict()
        self._bytes, self._max_bytes = 0, max_bytes
        self.hits = self.misses = 0

    def get(self, key: tuple, start: int, width: int) -> Piece | None:
        piece = self._pieces.get(key) if self.marks.current else None
        if piece is None:
            self.misses += 1
            return None
        if self.marks.of(start, start + width) > piece.stamp:  # changed since: compute again
            self._drop(key)
            self.misses += 1
            return None
        self._pieces.move_to_end(key)
        self.hits += 1
        return piece

    def put(self, key: tuple, points: dict[str, Fragment], stamp: int) -> None:
        self._drop(key)
        size = sum(len(b) for _, b in points.values()) + 100
        self._pieces[key] = Piece(points, stamp, size)
        self._bytes += size
        while self._bytes > self._max_bytes and self._pieces:
            self._drop(next(iter(self._pieces)))

    def _drop(self, key: tuple) -> None:
        piece = self._pieces.pop(key, None)
        if piece is not None:
            self._bytes -= piece.size


def piece_width(bucket: int) -> int | None:
    """The width of the cached pieces for `bucket`: whole buckets and whole hours; None for a
    bucket that is not a whole number of minutes (answered from raw rows, never cached)."""
    return math.lcm(bucket, HOUR_S) if bucket % 60 == 0 else None


def split(since: float, until: float | None, now: float, width: int) -> tuple[float, list[int], float]:
    """[since, until) as (head end, the starts of the closed whole pieces, tail start): the
    pieces lie in [since, until) and ended by `now`; the head is [since, head end), the tail
    [tail start, until)."""
    first = math.ceil(since / width)
    end = now if until is None else min(until, now)
    last = math.floor(end / width)
    if last <= first:
        return since, [], since
    return first * width, [k * width for k in range(first, last)], last * width


async def stats_cache_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the cache and its poller of change marks (a supervised task) live with the app."""
    cache = StatsCache()
    storage = app[storage_key]
    await cache.marks.poll(storage)
    app[stats_cache_key] = cache
    task = asyncio.create_task(_poll_forever(cache.marks, storage), name="change-marks")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _poll_forever(marks: ChangeMarks, storage) -> None:
    failing = False
    while True:
        await asyncio.sleep(POLL_S)  # the schedule, not a synchronisation
        try:
            await marks.poll(storage)
        except Exception as exc:  # logged once per outage, retried; the cache is unused meanwhile
            if not failing:
                log.warning("polling change marks failed (retrying every %s s): %s", POLL_S, exc)
            failing = True
        else:
            if failing:
                log.info("polling change marks works again")
            failing = False
