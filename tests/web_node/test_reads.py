"""The read API (GET /api/v1/sensors, …/readings, readings/latest, stats) against a real web node
whose data went in through POST /api/v1/batches; on SQLite and on PostgreSQL (tests/support/postgres.py)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.web_node.writes import Writer, iso, reading_at
from web_node.appkeys import storage_key

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z, a multiple of 60 and 3600


async def get(http, node, path: str, params=None) -> tuple[int, dict]:
    async with http.get(f"{node.url}{path}", params=params) as resp:
        return resp.status, await resp.json()


async def test_empty_database_answers_empty(web_node_factory, http):
    node = await web_node_factory()
    assert await get(http, node, "/api/v1/sensors") == (200, {"sensors": [], "next_after": None})
    assert await get(http, node, "/api/v1/readings/latest") == (200, {"readings": []})
    assert await get(http, node, "/api/v1/stats") == (200, {"bucket_s": 60, "series": []})


async def test_sensors_with_counts_and_latest(web_node_factory, http):
    node = await web_node_factory()
    batch = [reading_at("b-2", i, T0 + i, temperature=float(i)) for i in range(3)]
    batch += [reading_at("a-1", i, T0 + 10 * i) for i in range(5)]
    await Writer(http, node).store(batch)
    status, body = await get(http, node, "/api/v1/sensors")
    assert status == 200
    assert body["sensors"] == [
        {"sensor_id": "a-1", "count": 5, "first_seen": iso(T0), "last_seen": iso(T0 + 40), "latest": batch[-1]},
        {"sensor_id": "b-2", "count": 3, "first_seen": iso(T0), "last_seen": iso(T0 + 2), "latest": batch[2]},
    ]
    assert body["next_after"] is None


async def test_sensors_in_pages_by_sensor_id(web_node_factory, http):
    node = await web_node_factory()
    ids = [f"page-{i:03d}" for i in range(23)]
    writer = Writer(http, node)
    await writer.store([reading_at(sid, seq, T0 + seq) for sid in reversed(ids) for seq in range(2)])
    await writer.store([reading_at(ids[0], 0, T0 + 99)])  # a replay: counts nothing
    seen, after, pages = [], None, 0
    while True:
        status, body = await get(http, node, "/api/v1/sensors", {"limit": "5", **({"after": after} if after else {})})
        assert status == 200, body
        pages += 1
        seen += [(s["sensor_id"], s["count"]) for s in body["sensors"]]
        after = body["next_after"]
        if after is None:
            break
        assert after == body["sensors"][-1]["sensor_id"] and len(body["sensors"]) == 5
    assert seen == [(sid, 2) for sid in ids] and pages == 5
    status, body = await get(http, node, "/api/v1/sensors", {"after": ids[-1]})
    assert (status, body) == (200, {"sensors": [], "next_after": None})
    status, body = await get(http, node, "/api/v1/sensors", {"limit": "20"})
    assert len(body["sensors"]) == 20 and body["next_after"] == ids[19]


async def test_sensor_readings_newest_first_in_pages(web_node_factory, http):
    node = await web_node_factory()
    mine = [reading_at("pager", i, T0 + i + 0.123456) for i in range(25)]
    await Writer(http, node).store(mine + [reading_at("other", i, T0 + i) for i in range(5)])
    pages, until = [], None
    while True:
        params = {"limit": "10"} | ({"until": until} if until else {})
        status, body = await get(http, node, "/api/v1/sensors/pager/readings", params)
        assert status == 200 and body["sensor_id"] == "pager"
        pages.append(body["readings"])
        until = body["next_until"]
        if until is None:
            break
        assert until == body["readings"][-1]["ts"]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [r for page in pages for r in page] == mine[::-1]  # same JSON as stored, newest first


async def test_a_page_never_ends_inside_a_ts_it_shares(web_node_factory, http):
    # `until` is exclusive: a page cut between two readings of one ts would lose the second
    node = await web_node_factory()
    mine = [reading_at("ties", i, T0 + (0 if i < 2 else 5 if i < 6 else 9)) for i in range(8)]
    await Writer(http, node).store(mine)
    status, first = await get(http, node, "/api/v1/sensors/ties/readings", {"limit": "3"})
    assert status == 200 and [r["seq"] for r in first["readings"]] == [7, 6, 5, 4, 3, 2]
    assert first["next_until"] == iso(T0 + 5)
    _, rest = await get(http, node, "/api/v1/sensors/ties/readings", {"limit": "3", "until": first["next_until"]})
    assert [r["seq"] for r in rest["readings"]] == [1, 0] and rest["next_until"] is None


async def test_sensor_readings_since_until_in_both_notations(web_node_factory, http):
    node = await web_node_factory()
    mine = [reading_at("window", i, T0 + 60 * i) for i in range(10)]
    await Writer(http, node).store(mine)
    expected = mine[4:2:-1]  # since <= ts < until: seq 4, 3
    for since, until in [
        (str(T0 + 180), str(T0 + 300)),
        (iso(T0 + 180), iso(T0 + 300)),
        ("2025-11-24T18:03:00+02:00", "2025-11-24T11:05:00-05:00"),
    ]:
        status, body = await get(http, node, "/api/v1/sensors/window/readings", {"since": since, "until": until})
        assert (status, body["readings"], body["next_until"]) == (200, expected, None), (since, until)
    status, body = await get(http, node, "/api/v1/sensors/window/readings", {"since": str(T0 + 9999)})
    assert (status, body["readings"]) == (200, [])  # a known sensor with nothing in range: empty, not 404


async def test_unknown_and_malformed_sensor(web_node_factory, http):
    node = await web_node_factory()
    await Writer(http, node).store([reading_at("known", 0, T0)])
    status, body = await get(http, node, "/api/v1/sensors/nobody/readings")
    assert (status, body["error"], body["sensor_id"]) == (404, "unknown_sensor", "nobody")
    status, body = await get(http, node, "/api/v1/sensors/" + "x" * 65 + "/readings")
    assert (status, body["error"], body["parameter"]) == (400, "invalid_parameter", "id")


async def test_latest_over_all_sensors(web_node_factory, http):
    node = await web_node_factory()
    readings = [reading_at(f"s{i % 3}", i // 3, T0 + i) for i in range(150)]
    await Writer(http, node).store(readings)
    status, body = await get(http, node, "/api/v1/readings/latest", {"limit": "5"})
    assert (status, body["readings"]) == (200, readings[:-6:-1])
    status, body = await get(http, node, "/api/v1/readings/latest")
    assert status == 200 and body["readings"] == readings[:-101:-1]  # default limit 100


async def test_stats_min_max_mean_per_sensor_and_bucket(web_node_factory, http):
    node = await web_node_factory()
    readings = [reading_at("a", i, T0 + 10 * i, temperature=float(i), humidity=50.0 + i) for i in range(12)]
    readings += [reading_at("b", 0, T0 + 65, pressure=1000.0), reading_at("b", 1, T0 + 70, pressure=1010.0)]
    await Writer(http, node).store(readings)
    status, body = await get(http, node, "/api/v1/stats", {"since": str(T0), "until": str(T0 + 120), "bucket": "60"})
    assert status == 200 and body["bucket_s"] == 60
    series = {s["sensor_id"]: s["points"] for s in body["series"]}
    assert [s["sensor_id"] for s in body["series"]] == ["a", "b"]
    first, second = series["a"]
    assert (first["t"], first["count"], second["t"], second["count"]) == (iso(T0), 6, iso(T0 + 60), 6)
    assert first["temperature"] == {"min": 0.0, "max": 5.0, "mean": pytest.approx(2.5)}
    assert second["humidity"] == {"min": 56.0, "max": 61.0, "mean": pytest.approx(58.5)}
    assert first["battery"] == {"min": 88.0, "max": 88.0, "mean": pytest.approx(88.0)}
    [only] = series["b"]
    assert (only["t"], only["count"]) == (iso(T0 + 60), 2)
    assert only["pressure"] == {"min": 1000.0, "max": 1010.0, "mean": pytest.approx(1005.0)}
    # sensor filter (repeatable), and since/until bounds that cut a bucket
    status, body = await get(
        http,
        node,
        "/api/v1/stats",
        [("since", str(T0 + 30)), ("until", str(T0 + 65)), ("bucket", "3600"), ("sensor", "a")],
    )
    assert status == 200
    [series_a] = body["series"]
    assert series_a["sensor_id"] == "a" and series_a["points"][0]["count"] == 4  # ts 30, 40, 50, 60
    assert series_a["points"][0]["t"] == iso(T0 - T0 % 3600)  # aligned to the epoch, not to since


async def test_stats_bucket_takes_durations(web_node_factory, http):
    """`bucket` reads 60, 60s and 1m alike (protocol/durations.py); the answer says seconds."""
    node = await web_node_factory()
    await Writer(http, node).store([reading_at("a", i, T0 + 100 * i, temperature=float(i)) for i in range(80)])
    answers = {}
    for bucket in ("60", "60s", "1m", "3600", "1h", "86400", "1d"):
        status, answers[bucket] = await get(
            http, node, "/api/v1/stats", {"since": str(T0), "until": str(T0 + 8000), "bucket": bucket}
        )
        assert status == 200, answers[bucket]
    assert answers["60"] == answers["60s"] == answers["1m"] and answers["1m"]["bucket_s"] == 60
    assert answers["3600"] == answers["1h"] and answers["1h"]["bucket_s"] == 3600
    assert answers["86400"] == answers["1d"] and answers["1d"]["bucket_s"] == 86_400
    assert sum(p["count"] for p in answers["1m"]["series"][0]["points"]) == 80


async def test_stats_buckets_floor_on_every_backend(web_node_factory, http):
    """floor(ts / bucket), not truncation (SQLite's CAST) nor rounding (PostgreSQL's CAST)."""
    node = await web_node_factory()
    before_1970 = -315_619_170.0  # 1960-01-01T00:00:30Z: truncation would say 00:01:00
    late_in_bucket = T0 + 59.6  # rounding would say T0 + 60
    await Writer(http, node).store([reading_at("old", 0, before_1970), reading_at("new", 0, late_in_bucket)])
    status, body = await get(
        http, node, "/api/v1/stats", {"since": "1959-12-31T23:00:00Z", "until": "1960-01-01T01:00:00Z"}
    )
    assert status == 200 and body["series"][0]["points"][0]["t"] == "1960-01-01T00:00:00.000000Z"
    status, body = await get(http, node, "/api/v1/stats", {"since": str(T0), "until": str(T0 + 120)})
    assert status == 200 and body["series"][0]["points"][0]["t"] == iso(T0)


async def test_stats_default_since_is_the_last_hour(web_node_factory, http):
    node = await web_node_factory()
    now = time.time()
    await Writer(http, node).store([reading_at("recent", 0, now - 600), reading_at("recent", 1, now - 7200)])
    status, body = await get(http, node, "/api/v1/stats", {"bucket": "3600"})
    assert status == 200 and sum(p["count"] for p in body["series"][0]["points"]) == 1


async def test_stats_point_cap(web_node_factory, http):
    node = await web_node_factory()
    # decided before querying: 20,000 one-second buckets, or 3 sensors × 4,000
    status, body = await get(http, node, "/api/v1/stats", {"since": str(T0), "until": str(T0 + 20_000), "bucket": "1"})
    assert (status, body["error"], body["parameter"], body["value"]) == (400, "invalid_parameter", "bucket", "1")
    params = [("since", str(T0)), ("until", str(T0 + 4000)), ("bucket", "1")] + [("sensor", s) for s in "abc"]
    assert (await get(http, node, "/api/v1/stats", params))[0] == 400
    # decided by what is stored: 3 sensors × 3,400 full buckets > 10,000 points
    await Writer(http, node).store([reading_at(s, i, T0 + i) for s in "abc" for i in range(3400)])
    status, body = await get(http, node, "/api/v1/stats", {"since": str(T0), "until": str(T0 + 3400), "bucket": "1"})
    assert (status, body["parameter"]) == (400, "bucket")
    status, body = await get(http, node, "/api/v1/stats", {"since": str(T0), "until": str(T0 + 3400), "bucket": "2"})
    assert status == 200 and sum(len(s["points"]) for s in body["series"]) == 3 * 1700


@pytest.mark.parametrize(
    ("path", "query", "parameter", "value"),
    [
        ("/api/v1/readings/latest", "limit=0", "limit", "0"),
        ("/api/v1/readings/latest", "limit=1001", "limit", "1001"),
        ("/api/v1/readings/latest", "limit=ten", "limit", "ten"),
        ("/api/v1/readings/latest", "limit=1.5", "limit", "1.5"),
        ("/api/v1/readings/latest", "limit=%2B5", "limit", "+5"),
        ("/api/v1/readings/latest", "limit=", "limit", ""),
        ("/api/v1/readings/latest", "limit=1&limit=2", "limit", ["1", "2"]),
        ("/api/v1/readings/latest", "offset=3", "offset", "3"),
        ("/api/v1/sensors", "verbose=1", "verbose", "1"),
        ("/api/v1/sensors", "limit=0", "limit", "0"),
        ("/api/v1/sensors", "limit=1001", "limit", "1001"),
        ("/api/v1/sensors", "after=no%20spaces", "after", "no spaces"),
        ("/api/v1/sensors", "after=a&after=b", "after", ["a", "b"]),
        ("/api/v1/sensors/known/readings", "since=yesterday", "since", "yesterday"),
        ("/api/v1/sensors/known/readings", "since=nan", "since", "nan"),
        ("/api/v1/sensors/known/readings", "until=1e400", "until", "1e400"),
        ("/api/v1/sensors/known/readings", "until=2025-13-01T00:00:00Z", "until", "2025-13-01T00:00:00Z"),
        ("/api/v1/sensors/known/readings", "until=2025-11-24T10:00:00", "until", "2025-11-24T10:00:00"),
        ("/api/v1/stats", "bucket=0", "bucket", "0"),
        ("/api/v1/stats", "bucket=86401", "bucket", "86401"),
        ("/api/v1/stats", "bucket=2d", "bucket", "2d"),
        ("/api/v1/stats", "bucket=5x", "bucket", "5x"),
        ("/api/v1/stats", "bucket=1.5", "bucket", "1.5"),
        ("/api/v1/stats", "bucket=-5m", "bucket", "-5m"),
        ("/api/v1/stats", "bucket=5%20m", "bucket", "5 m"),
        ("/api/v1/stats", "sensor=a&sensor=no%20spaces", "sensor", "no spaces"),
        ("/api/v1/stats", "since=99999999999999", "since", "99999999999999"),  # past seconds and milliseconds
    ],
)
async def test_invalid_parameters_are_named(web_node_factory, http, path, query, parameter, value):
    node = await web_node_factory()
    await Writer(http, node).store([reading_at("known", 0, T0)])
    status, body = await get(http, node, f"{path}?{query}")
    assert (status, body["error"], body["parameter"], body["value"]) == (400, "invalid_parameter", parameter, value)
    assert parameter in body["detail"]


async def test_unreadable_database_is_503_not_500(web_node_factory, http, tmp_path, monkeypatch):
    node = await web_node_factory()
    broken = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    monkeypatch.setattr(node.app[storage_key], "reader", broken)
    try:
        for path in ("/api/v1/sensors", "/api/v1/readings/latest", "/api/v1/stats", "/api/v1/sensors/x/readings"):
            status, body = await get(http, node, path)
            assert (status, body["error"]) == (503, "storage_unavailable"), path
        # /healthz has a connection of its own (web_node/health.py): tests/web_node/test_health.py
    finally:
        await broken.dispose()
