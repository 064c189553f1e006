"""GET /metrics: what the write path and the live hub report, per web node (own registry)."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.waiting import async_eventually
from tests.support.web import sensors_of_receiver
from tests.web_node.writes import Writer, reading_at
from web_node.appkeys import live_hub_key

T0 = 1_764_000_000.0


async def scrape(http: aiohttp.ClientSession, node) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    async with http.get(f"{node.url}/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_batches_readings_latency_and_refusals(web_node_factory, http):
    node = await web_node_factory()
    writer = Writer(http, node)
    sid = sensors_of_receiver(0)[0]
    await writer.store([reading_at(sid, i, T0 + i) for i in range(10)])
    await writer.store([reading_at(sid, i, T0 + i) for i in range(5, 12)])  # 5 duplicates, 2 new
    url = f"{node.url}/api/v1/batches"
    refusals = [
        ({}, "grant_invalid"),
        ({"Authorization": f"Bearer {node.grant(0, 1)}"}, "grant_superseded"),
        ({"Authorization": f"Bearer {node.grant(1, 99)}"}, "grant_wrong_receiver"),
    ]
    for headers, code in refusals:
        async with http.post(url, json={"readings": [reading_at(sid, 99, T0)]}, headers=headers) as resp:
            assert (await resp.json())["error"] == code
    m = await scrape(http, node)
    assert m[("telering_batches_accepted_total", ())] == 2
    assert m[("telering_readings_stored_total", ())] == 12
    assert m[("telering_readings_duplicate_total", ())] == 5
    assert m[("telering_store_seconds_count", ())] == 2 and m[("telering_store_seconds_sum", ())] > 0
    refused = {labels[0][1]: value for (name, labels), value in m.items() if name == "telering_batches_refused_total"}
    assert refused == {
        "grant_invalid": 1,
        "grant_superseded": 1,
        "grant_wrong_receiver": 1,
        "grant_expired": 0,
        "invalid_json": 0,
        "invalid_body": 0,
        "invalid_readings": 0,
        "too_large": 0,
        "storage_unavailable": 0,
    }


async def test_live_clients_gauge_and_drops(web_node_factory, http):
    node = await web_node_factory()
    hub = node.app[live_hub_key]
    async with http.ws_connect(f"{node.url}/api/v1/live"), http.ws_connect(f"{node.url}/api/v1/live"):
        assert (await scrape(http, node))[("telering_live_clients", ())] == 2
        hub.queue_size = 1
        async with http.ws_connect(f"{node.url}/api/v1/live") as slow:
            await Writer(http, node).store([reading_at("x", i, T0 + i) for i in range(3)])
            await slow.receive(timeout=10)  # the close
        m = await scrape(http, node)
        assert (m[("telering_live_dropped_total", ())], m[("telering_live_clients", ())]) == (1, 2)

    async def no_clients() -> bool:
        return (await scrape(http, node))[("telering_live_clients", ())] == 0

    await async_eventually(no_clients, timeout=10)


async def test_each_web_node_has_its_own_registry(web_node_factory, http):
    busy, quiet = await web_node_factory(), await web_node_factory()
    await Writer(http, busy).store([reading_at("x", 0, T0)])
    assert (await scrape(http, busy))[("telering_readings_stored_total", ())] == 1
    assert (await scrape(http, quiet))[("telering_readings_stored_total", ())] == 0
