"""DNS rebinding and cross-site WebSockets against a real web node (web_node/guards.py): a Host
that is not the node's own gets 421, a WebSocket handshake from a foreign Origin 403 before the
upgrade; and what every answer says about itself (Server, nosniff, Cache-Control, HSTS)."""

from __future__ import annotations

import aiohttp
import pytest

from protocol import reader_tokens
from protocol.settings import Settings
from protocol.web_tls import ca_context
from testkit.pipeline import WebTls
from web_node.tls import server_ssl_context

ATTACKER = "attacker.example"
READS = ["/api/v1/readings/latest", "/api/v1/sensors", "/metrics", "/healthz", "/api/v1/openapi.json", "/nowhere"]


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}"


def port_of(node) -> int:
    return int(node.url.rsplit(":", 1)[1])


async def get(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, dict | None]:
    async with http.get(url, headers=headers) as resp:
        body = await resp.json(content_type=None) if resp.content_type == "application/json" else None
        return resp.status, body


async def handshake(http: aiohttp.ClientSession, url: str, **headers: str) -> int:
    """The status of a WebSocket handshake: 101 if it upgraded."""
    try:
        async with http.ws_connect(url, headers=headers):
            return 101
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status


async def refusal(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, dict]:
    """A WebSocket handshake sent as a plain request with the upgrade headers: the JSON refusal."""
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    async with http.get(url, headers={**upgrade, **headers}) as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize("path", READS)
async def test_a_foreign_host_is_refused_on_every_route(web_node_factory, http, path):
    node = await web_node_factory()
    status, body = await get(http, node.url + path, Host=ATTACKER)
    assert status == 421 and body["error"] == "host_not_allowed" and ATTACKER in body["detail"]
    status, _ = await get(http, node.url + path, Host=f"{ATTACKER}:{port_of(node)}")
    assert status == 421


async def test_the_loopback_names_are_answered_on_any_port(web_node_factory, http):
    node = await web_node_factory()
    for host in ("127.0.0.1", f"127.0.0.1:{port_of(node)}", "localhost:1", "LOCALHOST.", "[::1]:8080", "[::1]"):
        assert (await get(http, node.url + "/api/v1/readings/latest", Host=host))[0] == 200, host
    for host in ("127.0.0.2", "10.0.0.1", "localhost.example", "a@127.0.0.1", "[::1", "127.0.0.1:99999"):
        assert (await get(http, node.url + "/api/v1/readings/latest", Host=host))[0] in (400, 421), host


async def test_a_rebound_name_cannot_open_the_live_socket(web_node_factory, http):
    node = await web_node_factory()
    url = f"{node.url}/api/v1/live"
    origin = f"http://{ATTACKER}:{port_of(node)}"  # the page's own origin after rebinding
    status, body = await refusal(http, url, Host=f"{ATTACKER}:{port_of(node)}", Origin=origin)
    assert (status, body["error"]) == (421, "host_not_allowed")
    assert await handshake(http, url, Host=f"{ATTACKER}:{port_of(node)}", Origin=origin) == 421


@pytest.mark.parametrize("path", ["/api/v1/live", "/api/v1/alerts/live"])
async def test_a_websocket_from_a_foreign_origin_is_refused_before_the_upgrade(web_node_factory, http, path):
    node = await web_node_factory()
    url, port = node.url + path, port_of(node)
    for origin in (f"http://{ATTACKER}", f"https://{ATTACKER}:{port}", "null", f"http://127.0.0.1:{port + 1}"):
        status, body = await refusal(http, url, Origin=origin)
        assert (status, body["error"]) == (403, "origin_not_allowed"), origin
        assert await handshake(http, url, Origin=origin) == 403
    # the node's own origins, and clients that send none (the dashboard, curl, a worker)
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"https://[::1]:{port}", None):
        headers = {} if origin is None else {"Origin": origin}
        assert await handshake(http, url, **headers) == 101, origin
    # a plain read from any Origin: the browser's own rule keeps its answer from the page
    assert (await get(http, f"{node.url}/api/v1/sensors", Origin=f"http://{ATTACKER}"))[0] == 200


async def test_the_allowed_hosts_and_origins_are_settings(web_node_factory, http):
    node = await web_node_factory(
        web_node_allowed_hosts="web-node, telering.example", web_node_allowed_origins="https://dash.example:8443"
    )
    url = f"{node.url}/api/v1/live"
    assert (await get(http, f"{node.url}/api/v1/sensors", Host="web-node:8080"))[0] == 200
    assert (await get(http, f"{node.url}/api/v1/sensors", Host="telering.example"))[0] == 200
    assert (await get(http, f"{node.url}/api/v1/sensors", Host=f"127.0.0.1:{port_of(node)}"))[0] == 200
    assert (await get(http, f"{node.url}/api/v1/sensors", Host="other.example"))[0] == 421
    assert await handshake(http, url, Host="web-node:8080", Origin="https://dash.example:8443") == 101
    assert await handshake(http, url, Host="web-node:8080", Origin="http://web-node:8080") == 403


async def test_a_bind_to_every_interface_answers_ip_addresses_and_listed_names_only(web_node_factory, http):
    node = await web_node_factory(web_node_host="0.0.0.0", web_node_read_auth="off")
    reads = f"{node.url}/api/v1/readings/latest"
    for host in ("192.0.2.7:8080", "[2001:db8::1]:8080", "localhost", "127.0.0.1"):
        assert (await get(http, reads, Host=host))[0] == 200, host
    assert (await get(http, reads, Host=ATTACKER))[0] == 421
    listed = await web_node_factory(web_node_host="0.0.0.0", web_node_read_auth="off", web_node_allowed_hosts="*")
    assert (await get(http, f"{listed.url}/api/v1/readings/latest", Host=ATTACKER))[0] == 200


async def test_every_answer_hides_the_version_and_forbids_sniffing(web_node_factory, http):
    node = await web_node_factory()
    for path, host in [("/healthz", None), ("/nowhere", None), ("/api/v1/sensors", ATTACKER)]:
        headers = {} if host is None else {"Host": host}
        async with http.get(node.url + path, headers=headers) as resp:
            assert resp.headers["Server"] == "telering", path
            assert resp.headers["X-Content-Type-Options"] == "nosniff", path
            assert "Strict-Transport-Security" not in resp.headers  # plain HTTP: HSTS would be ignored anyway


async def test_answers_opened_by_a_reader_token_are_private(web_node_factory, http, tmp_path):
    readers_file = tmp_path / "telering.readers"
    token = reader_tokens.add_reader(readers_file, "alice")
    node = await web_node_factory(web_node_read_auth="required", telering_readers_file=readers_file)
    bearer = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{node.url}/api/v1/sensors", headers=bearer) as resp:
        assert resp.status == 200 and "private" in resp.headers["Cache-Control"].split(", ")
        etag = resp.headers["ETag"]
    async with http.get(f"{node.url}/api/v1/sensors", headers={**bearer, "If-None-Match": etag}) as resp:
        assert resp.status == 304 and "private" in resp.headers["Cache-Control"].split(", ")  # with ETags too
    async with http.get(f"{node.url}/healthz") as resp:
        assert "private" not in resp.headers.get("Cache-Control", "")


async def test_https_answers_carry_hsts(web_node_factory, tmp_path):
    tls = WebTls.make(tmp_path / "tls")
    server_tls = server_ssl_context(Settings(WEB_NODE_TLS_CERT=str(tls.cert_file), WEB_NODE_TLS_KEY=str(tls.key_file)))
    node = await web_node_factory(ssl_context=server_tls)
    connector = aiohttp.TCPConnector(ssl=ca_context(tls.ca_file))
    async with aiohttp.ClientSession(connector=connector) as session, session.get(f"{node.url}/api/v1/sensors") as resp:
        assert resp.status == 200
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert resp.headers["Server"] == "telering"
