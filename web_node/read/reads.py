"""The read API's views (docs/API.md): sensors, one sensor's history, the latest readings, stats."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from sqlalchemy import Row
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
from protocol.readings import MAX_FUTURE_S, QUANTITIES, reading_out, rfc3339
from web_node.appkeys import storage_key, storage_outage_key
from web_node.errors import ApiError
from web_node.read import params, queries, stats_queries
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
    async with read_database(request) as conn:
        rows = await queries.sensors(conn, after=after, limit=limit + 1)
    page = rows[:limit]
    return web.json_response(
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
        }
    )


async def sensor_readings(request: web.Request) -> web.Response:
    """One sensor's readings, newest first; `next_until` pages to older ones."""
    sensor_id = params.sensor_id_value("id", request.match_info["id"])
    query = request.query
    params.check_names(query, ("since", "until", "limit"))
    since, until = params.instant(query, "since"), params.instant(query, "until")
    limit = params.integer(query, "limit", default=LIMIT_DEFAULT, low=1, high=LIMIT_MAX)
    async with read_database(request) as conn:
        rows = await queries.sensor_readings(conn, sensor_id, since=since, until=until, limit=limit + 1)
        if not rows and not await queries.sensor_exists(conn, sensor_id):
            raise ApiError(404, "unknown_sensor", f"no reading of sensor {sensor_id!r} is stored", sensor_id=sensor_id)
    page = rows[:limit]
    more = len(rows) > limit
    return web.json_response(
        {
            "sensor_id": sensor_id,
            "readings": [reading_out(r._mapping) for r in page],
            "next_until": rfc3339(page[-1].ts) if more else None,
        }
    )


async def latest(request: web.Request) -> web.Response:
    """The newest readings over all sensors, newest first (a dashboard's "last n readings")."""
    params.check_names(request.query, ("limit",))
    limit = params.integer(request.query, "limit", default=LIMIT_DEFAULT, low=1, high=LIMIT_MAX)
    async with read_database(request) as conn:
        rows = await queries.latest(conn, limit)
    return web.json_response({"readings": [reading_out(r._mapping) for r in rows]})


async def stats(request: web.Request) -> web.Response:
    """min/max/mean per sensor per time bucket, computed by the database."""
    query = request.query
    params.check_names(query, ("since", "until", "bucket", "sensor"), repeatable=("sensor",))
    now = time.time()
    since = params.instant(query, "since")
    since = now - STATS_SINCE_DEFAULT_S if since is None else since
    until = params.instant(query, "until")
    bucket = params.duration(query, "bucket", default=BUCKET_DEFAULT, low=1, high=BUCKET_MAX)
    sensor_ids = params.sensors(query)
    buckets = math.ceil((until if until is not None else now + MAX_FUTURE_S) / bucket) - math.floor(since / bucket)
    if buckets * max(1, len(sensor_ids)) > STATS_MAX_POINTS:
        raise _too_many_points(query, bucket, f"{buckets} buckets × {max(1, len(sensor_ids))} sensor(s)")
    async with read_database(request) as conn:
        rows = await stats_queries.stats(
            conn, since=since, until=until, bucket=bucket, sensor_ids=sensor_ids, limit=STATS_MAX_POINTS + 1
        )
    if len(rows) > STATS_MAX_POINTS:
        raise _too_many_points(query, bucket, f"more than {STATS_MAX_POINTS} sensor buckets hold readings")
    return web.json_response({"bucket_s": bucket, "series": _series(rows, bucket)})


def _series(rows: list[Row], bucket: int) -> list[dict[str, Any]]:
    series: list[dict[str, Any]] = []
    for sensor_id, index, count, *cells in rows:  # by sensor, then bucket; cells: min, max, mean per quantity
        if not series or series[-1]["sensor_id"] != sensor_id:
            series.append({"sensor_id": sensor_id, "points": []})
        point: dict[str, Any] = {"t": rfc3339(max(index * bucket, params.MIN_UNIX_S)), "count": count}
        for i, quantity in enumerate(QUANTITIES):
            point[quantity] = {"min": cells[3 * i], "max": cells[3 * i + 1], "mean": cells[3 * i + 2]}
        series[-1]["points"].append(point)
    return series


def _too_many_points(query: Any, bucket: int, why: str) -> ApiError:
    return params.invalid(
        "bucket",
        query.get("bucket", str(bucket)),
        f"{why} exceed {STATS_MAX_POINTS} points per answer; use a larger bucket, "
        "a shorter since..until or fewer sensors",
    )


@asynccontextmanager
async def read_database(request: web.Request) -> AsyncIterator[AsyncConnection]:
    outage = request.app[storage_outage_key]
    try:
        async with queries.read_connection(request.app[storage_key]) as conn:
            yield conn
    except StorageError as exc:
        raise outage.failed("read", request, exc) from None
    outage.succeeded("read")
