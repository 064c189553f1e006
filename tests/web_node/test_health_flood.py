"""`/healthz` that a flood cannot flip, and that tells strangers only its status; live sockets
capped per reader token and in all. A real web node on a loopback port, on a real SQLite file and
on the session's PostgreSQL (tests/support/postgres.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from protocol import reader_tokens
from tests.support.waiting import async_eventually

FLOOD_CLIENTS = 20
FLOOD_S = 3.0


async def test_twenty_clients_on_healthz_see_no_503_and_log_nothing_per_request(web_node_factory, caplog):
    node = await web_node_factory()
    caplog.set_level(logging.INFO, logger="web_node.health")
    statuses: dict[int, int] = {}

    async def prober() -> None:
        # a connection of its own per client, as separate load balancers would have
        async with aiohttp.ClientSession() as http:
            until = time.monotonic() + FLOOD_S  # the length of the flood, not a synchronisation
            while time.monotonic() < until:
                async with http.get(f"{node.url}/healthz") as answer:
                    await answer.read()
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1

    await asyncio.gather(*(prober() for _ in range(FLOOD_CLIENTS)))
    assert set(statuses) == {200}, statuses
    assert sum(statuses.values()) > FLOOD_CLIENTS
    assert len([r for r in caplog.records if r.name == "web_node.health"]) <= 2


async def test_healthz_details_are_for_readers(web_node_factory, http, tmp_path):
    readers = tmp_path / "telering.readers"
    token = reader_tokens.add_reader(readers, "alice")
    node = await web_node_factory(web_node_read_auth="required", telering_readers_file=readers)
    async with http.get(f"{node.url}/healthz") as answer:
        assert (answer.status, await answer.json()) == (200, {"status": "ok"})
    async with http.get(f"{node.url}/healthz", headers={"Authorization": "Bearer tlr_not-a-reader"}) as answer:
        assert (answer.status, await answer.json()) == (200, {"status": "ok"})
    async with http.get(f"{node.url}/healthz", headers={"Authorization": f"Bearer {token}"}) as answer:
        body = await answer.json()
        assert (answer.status, body["status"], body["database"], body["fence_epoch"]) == (200, "ok", "ok", 0)
        assert [p["role"] for p in body["processes"]] == ["server"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_live_sockets_are_capped_per_reader_and_in_all(web_node_factory, http, tmp_path):
    readers = tmp_path / "telering.readers"
    alice, bob = (reader_tokens.add_reader(readers, name) for name in ("alice", "bob"))
    node = await web_node_factory(
        web_node_read_auth="required",
        telering_readers_file=readers,
        web_node_live_max_per_reader=2,
        web_node_live_max=3,
    )
    url = f"{node.url}/api/v1/live"
    open_sockets = [await http.ws_connect(url, headers=_bearer(alice)) for _ in range(2)]
    assert await _refusal(http, url, alice) == (429, "too_many_live_clients")  # alice's own limit
    open_sockets.append(await http.ws_connect(url, headers=_bearer(bob)))
    assert await _refusal(http, url, bob) == (429, "too_many_live_clients")  # the web node's limit
    await open_sockets.pop().close()

    async def bob_again() -> bool:
        try:
            open_sockets.append(await http.ws_connect(url, headers=_bearer(bob)))
        except aiohttp.WSServerHandshakeError:
            return False
        return True

    await async_eventually(bob_again, timeout=10)  # a closed socket gives its place back
    for ws in open_sockets:
        await ws.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _refusal(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, str]:
    headers = {
        **_bearer(token),
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    async with http.get(url, headers=headers) as answer:
        return answer.status, (await answer.json())["error"]
