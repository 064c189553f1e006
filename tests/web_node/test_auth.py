"""Reader tokens on a real web node (web_node/auth.py): 401 for missing, wrong, revoked and
cross-used tokens on the REST reads and the live WebSocket handshake; open routes stay open;
the readers file is followed without a restart."""

from __future__ import annotations

import aiohttp
import pytest

from protocol import reader_tokens
from tests.support.waiting import async_eventually
from tests.web_node.writes import Writer, reading_at

T0 = 1_764_000_000.0
READS = [
    "/api/v1/sensors",
    "/api/v1/sensors/s1/readings",
    "/api/v1/sensors/s1/readings.csv",
    "/api/v1/readings/latest",
    "/api/v1/stats",
]


@pytest.fixture
def readers_file(tmp_path):
    return tmp_path / "telering.readers"


@pytest.fixture
async def secured(web_node_factory, readers_file):
    """A web node whose reads need a reader token; `token` is the reader `alice`'s."""
    token = reader_tokens.add_reader(readers_file, "alice")
    node = await web_node_factory(web_node_read_auth="required", telering_readers_file=readers_file)
    node.token = token  # type: ignore[attr-defined]
    return node


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def status_and_error(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, str | None]:
    async with http.get(url, headers=headers) as resp:
        body = await resp.json(content_type=None)
        if resp.status == 401:
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        return resp.status, body.get("error") if isinstance(body, dict) else None


@pytest.mark.parametrize("path", READS)
async def test_every_read_needs_a_valid_reader_token(secured, http, path):
    url = secured.url + path
    assert await status_and_error(http, url, {}) == (401, "reader_token_missing")
    assert await status_and_error(http, url, {"Authorization": "Basic YWxpY2U6eA=="}) == (401, "reader_token_missing")
    assert await status_and_error(http, url, bearer("tlr_not-a-token")) == (401, "reader_token_invalid")
    status, _ = await status_and_error(http, url, bearer(secured.token))
    assert status in (200, 404), status  # 404: unknown_sensor, answered only to a reader


async def test_a_grant_is_no_reader_token_and_a_reader_token_no_grant(secured, http):
    grant = secured.grant(0, epoch=1)
    assert await status_and_error(http, f"{secured.url}/api/v1/sensors", bearer(grant)) == (401, "reader_token_invalid")
    body = {"readings": [reading_at("s1", 0, T0)]}
    async with http.post(f"{secured.url}/api/v1/batches", json=body, headers=bearer(secured.token)) as resp:
        assert resp.status == 401 and (await resp.json())["error"] == "grant_invalid"
    # the grant still writes: batches are authenticated by it, not by a reader token
    await Writer(http, secured).store([reading_at("sensor-1", 0, T0)])
    assert (await status_and_error(http, f"{secured.url}/api/v1/sensors", bearer(secured.token)))[0] == 200


async def test_the_live_handshake_needs_a_reader_token(secured, http):
    url = f"{secured.url}/api/v1/live"
    for headers, code in (({}, "reader_token_missing"), (bearer("wrong"), "reader_token_invalid")):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with http.ws_connect(url, headers=headers):
                pass
        assert refused.value.status == 401, code
    async with http.get(url, headers={"Connection": "Upgrade", "Upgrade": "websocket"}) as resp:
        assert resp.status == 401 and (await resp.json())["error"] == "reader_token_missing"
    async with http.ws_connect(url, headers=bearer(secured.token)) as ws:
        await Writer(http, secured).store([reading_at("sensor-1", 0, T0)])
        message = await ws.receive_json(timeout=10)
        assert message["sensor_id"] == "sensor-1"


async def test_revoked_and_new_readers_take_effect_without_a_restart(secured, http, readers_file):
    url = f"{secured.url}/api/v1/sensors"
    bob = reader_tokens.add_reader(readers_file, "bob")
    assert (await status_and_error(http, url, bearer(bob)))[0] == 200  # a new reader works at once
    reader_tokens.revoke_reader(readers_file, "alice")

    async def alice_refused() -> bool:
        return await status_and_error(http, url, bearer(secured.token)) == (401, "reader_token_invalid")

    await async_eventually(alice_refused, timeout=5, message="a revoked token kept working")
    assert (await status_and_error(http, url, bearer(bob)))[0] == 200
    with pytest.raises(aiohttp.WSServerHandshakeError):
        async with http.ws_connect(f"{secured.url}/api/v1/live", headers=bearer(secured.token)):
            pass


async def test_health_and_the_document_stay_open_and_metrics_follow_their_setting(
    web_node_factory, http, readers_file, secured
):
    for path in ("/healthz", "/api/v1/openapi.json"):
        async with http.get(secured.url + path) as resp:
            assert resp.status == 200, path
    assert await status_and_error(http, f"{secured.url}/metrics", {}) == (401, "reader_token_missing")
    async with http.get(f"{secured.url}/metrics", headers=bearer(secured.token)) as resp:
        assert resp.status == 200
    scraped = await web_node_factory(
        web_node_read_auth="required", web_node_metrics_auth="off", telering_readers_file=readers_file
    )
    async with http.get(f"{scraped.url}/metrics") as resp:
        assert resp.status == 200
    assert (await status_and_error(http, f"{scraped.url}/api/v1/sensors", {}))[0] == 401


async def test_reads_are_open_on_loopback_by_default(web_node_factory, http):
    node = await web_node_factory()  # WEB_NODE_HOST=127.0.0.1, WEB_NODE_READ_AUTH unset
    assert node.settings.read_auth_required is False
    assert (await status_and_error(http, f"{node.url}/api/v1/sensors", {}))[0] == 200


def test_required_by_default_off_loopback_and_a_missing_file_is_a_start_up_error(web_settings, tmp_path):
    from web_node.app import create_app
    from web_node.auth import ReadAuthUnavailable

    settings = web_settings(web_node_host="0.0.0.0", telering_readers_file=tmp_path / "none.readers")
    assert settings.read_auth_required and settings.metrics_auth_required
    with pytest.raises(ReadAuthUnavailable, match=r"TELERING_READERS_FILE=.*telering-keys reader new"):
        create_app(settings, keys=["k"])
