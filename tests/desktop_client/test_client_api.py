"""ApiClient against a real web node on loopback (in this test's event loop) with a real SQLite file.

Readings are stored only through `POST /api/v1/batches` under valid grants.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from desktop_client.api import ApiClient
from desktop_client.options import DAY, WINDOWS, plan_for
from tests.support.waiting import async_eventually
from tests.support.web import make_reading, sensors_of_receiver, store
from tests.web_node.writes import iso


@pytest.fixture
def database_url(tmp_path) -> str:
    """The client does not care which store the web node uses (its own tests cover both): SQLite."""
    return f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}"


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def api(http):
    def make(node) -> ApiClient:
        return ApiClient(node.url, http)

    return make


async def test_sensors_and_paginated_history(web_node_factory, http, api):
    node = await web_node_factory()
    a, b = sensors_of_receiver(0, 4, 2)
    await store(
        http,
        node,
        [make_reading(a, i, ts=ago(500 - i * 0.1), temperature=20 + i % 7) for i in range(2500)]
        + [make_reading(b, 0, ts=ago(1))],
    )
    client = api(node)
    infos = await client.sensors()
    assert [(i.sensor_id, i.count) for i in infos] == sorted([(a, 2500), (b, 1)])
    assert await client.sensors(page_limit=1) == infos  # page after page, by next_after
    now = datetime.now(UTC).timestamp()
    block = await client.raw_history(a, now - 600, now, max_points=10_000)
    assert len(block.t) == 2500 and list(block.seq[:3]) == [0, 1, 2]  # oldest first, all pages
    capped = await client.raw_history(a, now - 600, now, max_points=1200)
    assert list(capped.seq[-1:]) == [2499] and len(capped.t) == 1200  # the newest kept


async def test_stats_history_for_a_long_window(web_node_factory, http, api):
    node = await web_node_factory()
    [a] = sensors_of_receiver(0, 4, 1)
    await store(
        http,
        node,
        [
            make_reading(a, 0, ts=ago(1800), temperature=10.0),
            make_reading(a, 1, ts=ago(1799), temperature=20.0),
            make_reading(a, 2, ts=ago(2), temperature=30.0),
        ],
    )
    plan = plan_for(3600)
    [block] = await api(node).history(plan, [a], datetime.now(UTC).timestamp(), max_points=10_000)
    assert block.sensor_id == a and block.values[:, 0].tolist() in ([15.0, 30.0], [10.0, 20.0, 30.0])


@pytest.mark.parametrize("window", ["1h", "24h", "7d", "30d"])
async def test_long_windows_stay_within_the_point_cap_for_many_sensors(web_node_factory, http, api, window):
    """Sixty sensors, readings spread over 40 days: each long window loads every sensor's buckets
    from a real web node (which refuses any answer over 10,000 points with 400), in buckets of
    whole minutes or hours, holding exactly the readings inside the window."""
    node = await web_node_factory()
    sensors = sensors_of_receiver(0, 4, 60)
    start = datetime.now(UTC).timestamp()
    stamps = [start - age for age in (40 * DAY, 20 * DAY, 3 * DAY, 5 * 3600, 1800, 30)]
    await store(
        http,
        node,
        [make_reading(s, i, ts=iso(t), temperature=float(i)) for s in sensors for i, t in enumerate(stamps)],
    )
    plan = plan_for(WINDOWS[window])
    assert plan.bucket_s % (3600 if plan.bucket_s >= 3600 else 60) == 0
    assert len(sensors) > plan.sensors_per_stats_request() or window == "1h"  # several requests, mostly
    now = datetime.now(UTC).timestamp()
    blocks = await api(node).history(plan, sensors, now, max_points=10_000)
    buckets: dict[int, list[float]] = {}  # the readings inside the window, by bucket
    for i, t in enumerate(stamps):
        if t >= now - plan.window_s:
            buckets.setdefault(int(t // plan.bucket_s), []).append(float(i))
    assert sorted(b.sensor_id for b in blocks) == sorted(sensors)
    for block in blocks:
        assert block.t.tolist() == [b * plan.bucket_s for b in sorted(buckets)]
        assert block.values[:, 0].tolist() == [sum(v) / len(v) for _, v in sorted(buckets.items())]


async def test_live_socket_delivers_stored_readings(web_node_factory, http, api):
    node = await web_node_factory()
    [a] = sensors_of_receiver(0, 4, 1)
    async with api(node).live() as samples:
        await store(http, node, [make_reading(a, i, temperature=20.0 + i) for i in range(3)])
        got = [await asyncio.wait_for(anext(samples), 10) for _ in range(3)]
    assert [(s.sensor_id, s.seq, s.values[0]) for s in got] == [(a, 0, 20.0), (a, 1, 21.0), (a, 2, 22.0)]


async def test_unknown_sensor_has_no_history(web_node_factory, http, api):
    node = await web_node_factory()
    now = datetime.now(UTC).timestamp()
    block = await api(node).raw_history("nobody", now - 60, now, max_points=100)
    assert len(block.t) == 0


async def test_a_closed_port_is_a_client_error(http):
    with pytest.raises(aiohttp.ClientError):
        await ApiClient("http://127.0.0.1:9", http).sensors()


async def test_a_refresh_revalidates_with_if_none_match(web_node_factory, http, api):
    """An unchanged answer comes back as a 304 with no body and the client keeps what it had; a
    changed one is read again."""
    node = await web_node_factory()
    [a] = sensors_of_receiver(0, 4, 1)
    await store(http, node, [make_reading(a, i, ts=ago(60 - i)) for i in range(5)])
    client = api(node)

    async def counted() -> list[tuple[str, int]]:
        return [(i.sensor_id, i.count) for i in await client.sensors()]

    await async_eventually(lambda: _twice_the_same(counted, client), timeout=10)
    assert await counted() == [(a, 5)]
    await store(http, node, [make_reading(a, 5, ts=ago(1))])
    await async_eventually(lambda: _counts(counted, [(a, 6)]), timeout=10)


async def _twice_the_same(counted, client) -> bool:
    first, before = await counted(), client.not_modified
    return await counted() == first and client.not_modified == before + 1


async def _counts(counted, expected) -> bool:
    return await counted() == expected
