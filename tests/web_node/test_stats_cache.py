"""Stats cheap to repeat and equal to a raw GROUP BY (web_node/read/stats_cache.py, stats_plan.py),
ETag/304 on every read answer, and stats bounded by their cost before they run. A real web node
on a loopback port, on a real SQLite file and on the session's PostgreSQL
(tests/support/postgres.py); readings go in through POST /api/v1/batches."""

from __future__ import annotations

import math
import random
import time

import pytest
from sqlalchemy import event, text

from protocol.quantities import QUANTITIES
from tests.support.waiting import async_eventually
from tests.web_node.writes import Writer, iso, reading_at
from web_node.appkeys import stats_cache_key, storage_key
from web_node.read import queries, stats_queries
from web_node.read.queries import QueryTimeout
from web_node.read.stats_cache import POLL_S

HOUR, DAY = 3600, 86_400
SENSORS = ("late-a", "late-b", "late-c")


async def get(http, node, params, headers=None):
    async with http.get(f"{node.url}/api/v1/stats", params=params, headers=headers or {}) as resp:
        return resp.status, dict(resp.headers), (await resp.json() if resp.status != 304 else await resp.read())


async def raw_group_by(node, since: float, until: float | None, bucket: int, sensors=()) -> list[dict]:
    """The reference: a GROUP BY over the raw rows, shaped as the stats answer's series."""
    async with node.app[storage_key].reader.connect() as conn:
        rows = await stats_queries.raw_stats(
            conn, since=since, until=until, bucket=bucket, sensor_ids=list(sensors), limit=100_000
        )
    series: list[dict] = []
    for sensor_id, index, count, *cells in rows:
        if not series or series[-1]["sensor_id"] != sensor_id:
            series.append({"sensor_id": sensor_id, "points": []})
        point = {"t": iso(index * bucket), "count": count}
        for i, q in enumerate(QUANTITIES):
            point[q] = {"min": cells[3 * i], "max": cells[3 * i + 1], "mean": pytest.approx(cells[3 * i + 2])}
        series[-1]["points"].append(point)
    return series


async def polled(cache) -> None:
    """Wait until the web node has polled the change marks after now."""
    now = time.monotonic()
    await async_eventually(lambda: cache.marks.polled_at > now, timeout=10)


def readings_over(start: float, hours: int, step: float, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        reading_at(s, i, start + i * step + rng.random(), temperature=round(rng.uniform(-20, 40), 3))
        for s in SENSORS
        for i in range(int(hours * HOUR / step))
    ]


@pytest.mark.parametrize("bucket", [60, 180, 300, 3600, 7])
async def test_stats_equal_a_raw_group_by_before_and_after_late_readings(web_node_factory, http, bucket):
    node = await web_node_factory()
    start = math.floor(time.time() / HOUR) * HOUR - 5 * HOUR
    writer = Writer(http, node)
    await writer.store(readings_over(start, 5, 37.0, seed=bucket))
    since, until = start + 1234.5, None if bucket != 7 else start + 4 * HOUR + 17
    params = {"since": str(since), "bucket": str(bucket), **({"until": str(until)} if until else {})}

    cache = node.app[stats_cache_key]
    await polled(cache)  # pieces computed before the marks of the store are seen are computed again
    status, _, first = await get(http, node, params)
    assert status == 200 and first["series"] == await raw_group_by(node, since, until, bucket)
    hits = cache.hits
    # another answer (a second later), from the same closed pieces, now cached
    status, _, again = await get(http, node, {**params, "since": str(since + 1)})
    assert status == 200 and again["series"] == await raw_group_by(node, since + 1, until, bucket)
    if bucket % 60 == 0:
        assert cache.hits > hits

    # a Kafka backlog after an outage: readings stored late into old buckets, after the cache was filled
    late = [reading_at(s, 100_000 + n, start + HOUR + 61 * n, temperature=99.5) for s in SENSORS for n in range(3)]
    assert await writer.store(late) == len(late)
    expected = await raw_group_by(node, since, until, bucket)
    assert expected != first["series"]

    async def current() -> bool:
        status, _, body = await get(http, node, params)
        return status == 200 and body["series"] == expected

    await async_eventually(current, timeout=4 * POLL_S)  # within 1 s
    status, _, body = await get(http, node, {**params, "sensor": ["late-b", "late-a"]})
    assert body["series"] == await raw_group_by(node, since, until, bucket, ["late-a", "late-b"])


async def test_every_read_answer_has_an_etag_and_a_match_gets_304(web_node_factory, http):
    node = await web_node_factory()
    writer = Writer(http, node)
    start = math.floor(time.time() / HOUR) * HOUR - 3 * HOUR
    await writer.store(readings_over(start, 2, 60.0, seed=1))
    await polled(node.app[stats_cache_key])  # the tags name the marks of what is stored
    routes = [
        ("/api/v1/sensors", {}),
        ("/api/v1/readings/latest", {"limit": "5"}),
        ("/api/v1/sensors/late-a/readings", {"limit": "5"}),
        ("/api/v1/stats", {"since": str(start), "bucket": "180"}),
    ]
    tags = {}
    for path, params in routes:
        async with http.get(f"{node.url}{path}", params=params) as resp:
            assert resp.status == 200 and resp.headers["ETag"].startswith('"'), path
            tags[path] = resp.headers["ETag"]
        async with http.get(f"{node.url}{path}", params=params, headers={"If-None-Match": tags[path]}) as resp:
            assert (resp.status, await resp.read(), resp.headers["ETag"]) == (304, b"", tags[path]), path
        async with http.get(f"{node.url}{path}", params=params, headers={"If-None-Match": '"other"'}) as resp:
            assert resp.status == 200 and await resp.json()

    await writer.store([reading_at("late-a", 99_999, start + 600, temperature=99.5)])

    async def all_changed() -> bool:
        for path, params in routes:
            async with http.get(f"{node.url}{path}", params=params, headers={"If-None-Match": tags[path]}) as resp:
                if resp.status != 200 or resp.headers["ETag"] == tags[path]:
                    return False
        return True

    await async_eventually(all_changed, timeout=4 * POLL_S)


async def test_an_answer_asked_again_is_not_read_again_until_a_write_changes_it(web_node_factory, http):
    node = await web_node_factory()
    writer = Writer(http, node)
    start = math.floor(time.time() / HOUR) * HOUR - 3 * HOUR
    await writer.store(readings_over(start, 2, 60.0, seed=2))
    await polled(node.app[stats_cache_key])
    routes = [
        ("/api/v1/readings/latest", {"limit": "5"}),
        ("/api/v1/sensors/late-a/readings", {"limit": "5", "until": str(start + 700)}),
        ("/api/v1/stats", {"since": str(start), "until": str(start + 2 * HOUR), "bucket": "180"}),
    ]

    async def answers() -> list[tuple[str, bytes]]:
        got = []
        for path, params in routes:
            async with http.get(f"{node.url}{path}", params=params) as resp:
                assert resp.status == 200, path
                got.append((resp.headers["ETag"], await resp.read()))
        return got

    first = await answers()
    statements = Statements(node)
    assert await answers() == first  # the same bodies under the same tags, from no query
    assert statements.seen == []

    # a reading stored late into the range: every answer is read again, and holds it
    await writer.store([reading_at("late-a", 99_999, start + 600, temperature=99.5)])

    async def all_read_again() -> bool:
        return all(tag != old_tag for (tag, _), (old_tag, _) in zip(await answers(), first, strict=True))

    await async_eventually(all_read_again, timeout=4 * POLL_S)
    _, history, stats = await answers()  # (the newest readings are the same ones, under a new tag)
    assert b'"seq":99999' in history[1] and b'"max":99.5' in stats[1]
    assert statements.seen, "the changed answers were read from the database"


class Statements:
    """The statements the web node runs on the raw and rollup tables (a SQLAlchemy event: every
    one of them, from any connection of the reader pool)."""

    def __init__(self, node) -> None:
        self.seen: list[str] = []
        event.listen(node.app[storage_key].reader.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement: str, *_args) -> None:
        if any(table in statement for table in ("FROM readings", "readings_1m", "readings_1h")):
            self.seen.append(statement)


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the cost refusals are decided from the parameters, the same on every backend")


async def test_expensive_stats_are_refused_before_any_query(web_node_factory, http, sqlite_only):
    """The hardening issue's request on a table of a few hundred thousand rows: since 7 days ago
    at bucket=86399 (no rollup holds such buckets) is refused without a query; a bucket of whole
    days answers from the rollups."""
    node = await web_node_factory()
    now = time.time()
    sensors = [f"cost-{n:02d}" for n in range(20)]
    readings = [reading_at(s, i, now - 7 * DAY + 60 * i) for s in sensors for i in range(7 * DAY // 60)]
    assert await Writer(http, node).store(readings) == len(readings) > 200_000
    await async_eventually(lambda: node.app[stats_cache_key].marks.sensors == len(sensors), timeout=30)
    statements = Statements(node)
    week_ago = str(now - 7 * DAY - 60)
    for params in (
        {"since": week_ago, "bucket": "86399"},
        {"since": week_ago, "bucket": "61"},
        {"since": str(now - 2 * DAY), "until": str(now - DAY), "bucket": "60"},  # 1,440 buckets × 20 sensors kept
    ):
        status, _, body = await get(http, node, params)
        assert (status, body["error"], body["parameter"]) == (400, "invalid_parameter", "bucket"), body
        assert statements.seen == [], params

    status, _, body = await get(http, node, {"since": week_ago, "bucket": "86400"})
    assert status == 200 and body["series"] == await raw_group_by(node, float(week_ago), None, 86_400)
    assert sum(p["count"] for s in body["series"] for p in s["points"]) == len(readings)


async def test_a_runaway_query_ends_with_a_json_error(web_node_factory, http, sqlite_only):
    node = await web_node_factory(web_node_statement_timeout_s=0.001)
    start = math.floor(time.time() / HOUR) * HOUR - 20 * HOUR
    await Writer(http, node).store(readings_over(start, 20, 2.0, seed=3))
    params = {"since": str(start), "until": str(start + 20 * HOUR), "bucket": "23"}
    status, headers, body = await get(http, node, params)
    assert (status, body["error"], headers.get("Retry-After")) == (503, "query_timeout", "1"), (body, headers)
    assert "WEB_NODE_STATEMENT_TIMEOUT_S" in body["detail"]
    async with http.get(f"{node.url}/api/v1/sensors") as resp:  # a short read still answers
        assert resp.status == 200


RUNAWAY = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(60)",
}


async def test_every_read_connection_ends_a_runaway_statement(web_node_factory):
    """The reader pool's statement timeout (SQLite: a progress handler; PostgreSQL:
    statement_timeout) ends a statement that would run for ever, as QueryTimeout."""
    node = await web_node_factory(web_node_statement_timeout_s=0.2)
    storage = node.app[storage_key]
    with pytest.raises(QueryTimeout):
        async with queries.read_connection(storage) as conn:
            await conn.execute(text(RUNAWAY[storage.dialect]))
    async with queries.read_connection(storage) as conn:  # the connection is good for the next read
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def test_an_edge_whose_raw_readings_expired_comes_from_the_minute_rollup(web_node_factory, http):
    node = await web_node_factory(telering_retention_raw="2m", telering_retention_interval="0.2s")
    minute = math.floor(time.time() / 60) * 60 - 10 * 60
    readings = [reading_at("edge", i, minute + 3.3 * i) for i in range(18)]  # 18 readings in one minute
    assert await Writer(http, node).store(readings) == 18

    async def raw_rows_expired() -> bool:
        async with http.get(f"{node.url}/api/v1/sensors/edge/readings") as resp:
            assert resp.status == 200  # known while its rollups are kept, not 404
            return (await resp.json())["readings"] == []

    await async_eventually(raw_rows_expired, timeout=30)
    status, _, body = await get(http, node, {"since": str(minute - 240), "until": str(minute + 30), "bucket": "300"})
    assert status == 200 and [p["count"] for p in body["series"][0]["points"]] == [18]  # the whole minute
    async with http.get(f"{node.url}/api/v1/sensors") as resp:
        listed = {s["sensor_id"]: s for s in (await resp.json())["sensors"]}
    assert listed["edge"]["count"] == 0
