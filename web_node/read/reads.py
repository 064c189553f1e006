"""The read API's views (docs/API.md): sensors, one sensor's history, the latest readings, stats."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.bodies import (
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    SENSORS_LIMIT_DEFAULT,
    SENSORS_LIMIT_MAX,
    STATS_BUCKET_DEFAULT_S,
    STATS_BUCKET_MAX_S,
    STATS_MAX_POINTS,
)
from protocol.readings import reading_out, rfc3339
from web_node import jsonio
from web_node.appkeys import settings_key, stats_cache_key, storage_key, storage_outage_key
from web_node.errors import ApiError
from web_node.read import etags, params, queries, stats_cache, stats_plan
from web_node.storage_errors import StorageError

log = logging.getLogger(__name__)

LIMIT_DEFAULT, LIMIT_MAX = PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
BUCKET_DEFAULT, BUCKET_MAX = STATS_BUCKET_DEFAULT_S, STATS_BUCKET_MAX_S
STATS_SINCE_DEFAULT_S = 3600.0


async def sensors(request: web.Request) -> web.Response:
    """Sensors by id, a page at a time: id, count, first/last seen and the latest reading;
    `next_after` pages on (keyset: sensor_id > after)."""
    query = request.query
    params.check_names(query, ("limit", "after"))
    limit = params.integer(query, "limit", default=SENSORS_LIMIT_DEFAULT, low=1, high=SENSORS_LIMIT_MAX)
    after = query.get("after")
    if after is not None:
        params.sensor_id_value("after", after)
    tag = _Tag(request, (request.path, limit, after))
    etag, known = tag.polled()
    if known is not None:
        return known
    async with read_database(request) as conn:
        if etag is not None and (known := await tag.kept(conn)) is not None:
            return known
        rows = await queries.sensors(conn, after=after, limit=limit + 1)
    page = rows[:limit]
    return _answer(
        tag,
        {
            "sensors": [
                {
                    "sensor_id": row.sensor_id,
                    "count": row.count,
                    "first_seen": rfc3339(row.first_seen),
                    "last_seen": rfc3339(row.last_seen),
                    "latest": reading_out(row._mapping),
                }
                for row in page
            ],
            "next_after": page[-1].sensor_id if len(rows) > limit else None,
        },
    )


async def sensor_readings(request: web.Request) -> web.Response:
    """One sensor's readings, newest first; `next_until` pages to older ones. A sensor whose raw
    readings have expired while its rollups are kept answers 200 with none."""
    sensor_id = params.sensor_id_value("id", request.match_info["id"])
    query = request.query
    params.check_names(query, ("since", "until", "limit"))
    since, until = params.instant(query, "since"), params.instant(query, "until")
    limit = params.integer(query, "limit", default=LIMIT_DEFAULT, low=1, high=LIMIT_MAX)
    tag = _Tag(request, (request.path, sensor_id, since, until, limit))
    etag, known = tag.polled()
    if known is not None:
        return known
    async with read_database(request) as conn:
        if etag is not None and (known := await tag.kept(conn)) is not None:
            return known
        rows = await queries.sensor_readings(conn, sensor_id, since=since, until=until, limit=limit + 1)
        if not rows and not await queries.sensor_exists(conn, sensor_id):
            raise ApiError(404, "unknown_sensor", f"nothing of sensor {sensor_id!r} is stored", sensor_id=sensor_id)
        page = rows[:limit]
        more = len(rows) > limit
        if more and rows[limit].ts == page[-1].ts:
            oldest = page[-1].ts  # the readings at exactly this ts (`until` is exclusive)
            at_oldest = await queries.sensor_readings(
                conn, sensor_id, since=oldest, until=math.nextafter(oldest, math.inf), limit=None
            )
            page = whole_oldest_ts(page, at_oldest)
    return _answer(
        tag,
        {
            "sensor_id": sensor_id,
            "readings": [reading_out(r._mapping) for r in page],
            "next_until": rfc3339(page[-1].ts) if more else None,
        },
    )


def whole_oldest_ts(page: list, at_oldest: list) -> list:
    """`page` ending with every row of its oldest ts (`at_oldest`, in page order): the next page
    starts below that ts (`until` is exclusive), so a page cut inside it would skip the rest."""
    oldest = page[-1].ts
    return [row for row in page if row.ts != oldest] + at_oldest


async def latest(request: web.Request) -> web.Response:
    """The newest readings over all sensors, newest first (a dashboard's "last n readings")."""
    params.check_names(request.query, ("limit",))
    limit = params.integer(request.query, "limit", default=LIMIT_DEFAULT, low=1, high=LIMIT_MAX)
    tag = _Tag(request, (request.path, limit))
    etag, known = tag.polled()
    if known is not None:
        return known
    async with read_database(request) as conn:
        if etag is not None and (known := await tag.kept(conn)) is not None:
            return known
        rows = await queries.latest(conn, limit)
    return _answer(tag, {"readings": [reading_out(r._mapping) for r in rows]})


async def stats(request: web.Request) -> web.Response:
    """min/max/mean per sensor per time bucket: planned from the rollups, or refused, before any
    query runs; closed pieces from the cache (web_node/read/stats_cache.py)."""
    query = request.query
    params.check_names(query, ("since", "until", "bucket", "sensor"), repeatable=("sensor",))
    now = time.time()
    since = params.instant(query, "since")
    since = now - STATS_SINCE_DEFAULT_S if since is None else since
    until = params.instant(query, "until")
    bucket = params.duration(query, "bucket", default=BUCKET_DEFAULT, low=1, high=BUCKET_MAX)
    sensor_ids = sorted(params.sensors(query))
    cache = request.app[stats_cache_key]
    sensors = len(sensor_ids) or cache.marks.sensors  # none named: every sensor kept counts
    stats_plan.check_cost(query, since=since, until=until, bucket=bucket, now=now, sensors=sensors)
    raw_since = now - request.app[settings_key].telering_retention_raw
    # the edges widen to whole minutes of the rollup once their raw rows expire (stats_queries)
    widening = raw_since // 60 if since < raw_since + 60 else None
    tag = _Tag(request, ("stats", since, until, bucket, sensor_ids, widening), since, until, from_pieces=True)
    etag, known = tag.polled()
    if known is not None:
        return known
    plan = stats_plan.StatsPlan(since=since, until=until, bucket=bucket, sensor_ids=sensor_ids, raw_since=raw_since)
    async with read_database(request) as conn:
        if etag is not None and (known := await tag.kept(conn)) is not None:
            return known
        points = await plan.run(conn, cache, now)
    if points is None:
        raise stats_plan.too_many_points(query, bucket, f"more than {STATS_MAX_POINTS} sensor buckets hold readings")
    return _answer(tag, body=stats_plan.render(bucket, points))


@dataclass
class _Tag:
    """The ETag of a read answer: its route and resolved query, and the highest change mark of
    what it covers (the hours [since, until) touch; all of them without `until`)."""

    request: web.Request
    query: tuple
    since: float | None = None
    until: float | None = None
    from_pieces: bool = False  # stats: made of pieces checked against the polled marks
    polled_tag: str | None = None
    answer_tag: str | None = None  # the tag the answer rendered now carries
    keep: bool = False  # whether it may be kept under that tag

    def polled(self) -> tuple[str | None, web.Response | None]:
        """The tag as the last polled marks give it (None while they are not current: then no
        answer is tagged), and 304 if the client holds that answer: no query at all."""
        marks = self.request.app[stats_cache_key].marks
        if not marks.current:
            return None, None
        self.polled_tag = self.answer_tag = etags.tag(*self.query, marks.of(self.since, self.until))
        answer = etags.not_modified(self.polled_tag) if etags.matches(self.request, self.polled_tag) else None
        return self.polled_tag, answer

    async def kept(self, conn: AsyncConnection) -> web.Response | None:
        """The answer as it stands now, if a client holds it (304) or it was rendered before: the
        marks read on `conn`, not as last polled (a polled tag lags the database, and a body kept
        under it could be older than one the same client got a moment before). An answer read
        next from the database holds at least what these marks name: it carries and is kept
        under their tag. Stats made of pieces checked against the polled marks do so only if
        those have caught up with these; otherwise they carry the polled tag, not kept."""
        now = etags.tag(*self.query, await stats_cache.marks_now(conn, self.since, self.until))
        self.keep = not self.from_pieces or now == self.polled_tag
        if self.keep:
            self.answer_tag = now
        if etags.matches(self.request, now):
            return etags.not_modified(now)
        body = self.request.app[stats_cache_key].answers.get(now)
        return None if body is None else jsonio.response(body=body, etag=now)


def _answer(tag: _Tag, document: object = None, *, body: bytes | None = None) -> web.Response:
    """The JSON answer of `document` (or of `body`, already rendered), tagged and kept as
    `_Tag.kept` decided."""
    body = jsonio.dumps(document) if body is None else body
    if tag.keep:
        tag.request.app[stats_cache_key].answers.put(tag.answer_tag, body)
    return jsonio.response(body=body, etag=tag.answer_tag)


@asynccontextmanager
async def read_database(request: web.Request) -> AsyncIterator[AsyncConnection]:
    outage = request.app[storage_outage_key]
    try:
        async with queries.read_connection(request.app[storage_key]) as conn:
            yield conn
    except StorageError as exc:
        raise outage.failed("read", request, exc) from None
    outage.succeeded("read")
