"""A day of data at 20 sensors (one reading per sensor every 10 s: 172,800 rows, stored through
POST /api/v1/batches) answers /api/v1/stats from SQL aggregates. The times are reported in the
test output (and as junit properties); no assertion is made on wall-clock time."""

from __future__ import annotations

import json
import math
import statistics
import time

import pytest

from tests.support.waiting import async_eventually
from tests.support.web import sensors_of_receiver
from tests.web_node.writes import Writer, reading_at
from web_node.appkeys import stats_cache_key, storage_key
from web_node.read import stats_queries

SENSORS_PER_RECEIVER = 5
DAY_S = 86_400
PERIOD_S = 10
CLIENT_BUCKET_S = 180  # what the desktop client asks for a 24 h window (about 480 buckets)


def _temperature(sensor: int, i: int) -> float:
    return round(20 + 10 * math.sin(i / 500 + sensor), 3)


def _means_approx(answer: dict) -> dict:
    """The stats answer with each mean compared approximately (count, min and max exactly)."""
    return {
        **answer,
        "series": [
            {
                **series,
                "points": [
                    {k: {**v, "mean": pytest.approx(v["mean"])} if isinstance(v, dict) else v for k, v in point.items()}
                    for point in series["points"]
                ],
            }
            for series in answer["series"]
        ],
    }


async def test_a_day_at_twenty_sensors(web_node_factory, http, report):
    node = await web_node_factory()
    sensors = [s for r in range(4) for s in sensors_of_receiver(r, n=SENSORS_PER_RECEIVER, prefix="day-")]
    start = math.floor(time.time() / 3600) * 3600 - DAY_S  # a whole day of whole hours, all in the past
    readings = [
        reading_at(sid, i, start + PERIOD_S * i, temperature=_temperature(n, i))
        for n, sid in enumerate(sensors)
        for i in range(DAY_S // PERIOD_S)
    ]
    began = time.perf_counter()
    assert await Writer(http, node, batch=5000).store(readings) == len(readings) == 172_800
    report("store_172800_rows_s", time.perf_counter() - began, "s")

    began = time.perf_counter()
    params = [("since", str(start)), ("until", str(start + DAY_S)), ("bucket", str(CLIENT_BUCKET_S))]
    async with http.get(f"{node.url}/api/v1/stats", params=params + [("sensor", s) for s in sensors]) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    report("stats_24h_20_sensors_ms", 1000 * (time.perf_counter() - began), "ms")

    # the same window again and again: its closed hours come from the cache (web_node/read/stats_cache.py);
    # against it, the raw GROUP BY of the same rows (the reference stats_queries.raw_stats)
    stored = time.monotonic()
    await async_eventually(lambda: node.app[stats_cache_key].marks.polled_at > stored, timeout=10)
    url, query = f"{node.url}/api/v1/stats", params + [("sensor", s) for s in sensors]
    repeats = []
    for _ in range(5):
        began = time.perf_counter()
        async with http.get(url, params=query) as resp:
            assert resp.status == 200
            answer = await resp.read()
        repeats.append(time.perf_counter() - began)
        assert json.loads(answer) == _means_approx(body)  # a mean's last bits follow the sum's order
    report("stats_24h_20_sensors_repeated_p50_ms", 1000 * statistics.median(repeats), "ms")
    raw = []
    for _ in range(3):
        began = time.perf_counter()
        async with node.app[storage_key].reader.connect() as conn:
            await stats_queries.raw_stats(
                conn, since=start, until=start + DAY_S, bucket=CLIENT_BUCKET_S, sensor_ids=sensors, limit=10_001
            )
        raw.append(time.perf_counter() - began)
    report("raw_group_by_same_rows_p50_ms", 1000 * statistics.median(raw), "ms")

    series = {s["sensor_id"]: s["points"] for s in body["series"]}
    assert sorted(series) == sorted(sensors)
    per_bucket = CLIENT_BUCKET_S // PERIOD_S
    for n, sid in enumerate(sensors):
        points = series[sid]
        assert len(points) == DAY_S // CLIENT_BUCKET_S and all(p["count"] == per_bucket for p in points)
        values = [_temperature(n, i) for i in range(per_bucket * 7, per_bucket * 8)]  # the 8th bucket
        cell = points[7]["temperature"]
        assert (cell["min"], cell["max"]) == (min(values), max(values))
        assert cell["mean"] == pytest.approx(statistics.fmean(values))

    answers = {}
    for path, query, name in [
        ("/api/v1/stats", {"since": str(start), "bucket": "300"}, "stats_24h_all_sensors_300s_ms"),
        ("/api/v1/sensors", {}, "sensors_ms"),
        ("/api/v1/readings/latest", {"limit": "1000"}, "latest_1000_ms"),
    ]:
        began = time.perf_counter()
        async with http.get(f"{node.url}{path}", params=query) as resp:
            answers[path] = await resp.json()
            assert resp.status == 200, answers[path]
        report(name, 1000 * (time.perf_counter() - began), "ms")
    assert sum(len(s["points"]) for s in answers["/api/v1/stats"]["series"]) == 20 * DAY_S // 300
    assert [s["count"] for s in answers["/api/v1/sensors"]["sensors"]] == [DAY_S // PERIOD_S] * 20
    assert len(answers["/api/v1/readings/latest"]["readings"]) == 1000
