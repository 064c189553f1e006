"""The dashboard's client of a secured web node: HTTPS verified with --ca-file / WEB_NODE_CA_FILE,
reads and the live socket with --token / TELERING_READER_TOKEN."""

from __future__ import annotations

import aiohttp
import pytest

from desktop_client.__main__ import parse_args
from desktop_client.api import ApiClient, WebNodeError
from protocol import reader_tokens
from protocol.settings import Settings
from protocol.web_tls import ca_context
from testkit.pipeline import WebTls
from tests.support.web import make_reading, sensors_of_receiver
from web_node.tls import server_ssl_context


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}"


async def test_https_and_a_reader_token(web_node_factory, tmp_path):
    tls = WebTls.make(tmp_path / "tls")
    readers_file = tmp_path / "telering.readers"
    token = reader_tokens.add_reader(readers_file, "dashboard")
    server_tls = server_ssl_context(Settings(WEB_NODE_TLS_CERT=str(tls.cert_file), WEB_NODE_TLS_KEY=str(tls.key_file)))
    node = await web_node_factory(
        ssl_context=server_tls, web_node_read_auth="required", telering_readers_file=readers_file
    )
    assert node.url.startswith("https://")
    connector = aiohttp.TCPConnector(ssl=ca_context(tls.ca_file))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(WebNodeError) as refused:
            await ApiClient(node.url, session).sensors()
        assert (refused.value.status, refused.value.code) == (401, "reader_token_missing")

        client = ApiClient(node.url, session, token=token)
        assert await client.sensors() == []
        async with client.live() as samples:
            sensor = sensors_of_receiver(0, n=1)[0]
            reading = make_reading(sensor, 0)
            grant = {"Authorization": f"Bearer {node.grant(0)}"}
            async with session.post(f"{node.url}/api/v1/batches", json={"readings": [reading]}, headers=grant) as r:
                assert r.status == 200
            sample = await anext(samples)
            assert sample.sensor_id == sensor
    async with aiohttp.ClientSession() as untrusting:  # the system's store does not know this CA
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await ApiClient(node.url, untrusting, token=token).sensors()


def test_token_and_ca_file_from_the_environment_or_the_command_line(tmp_path):
    env = Settings(TELERING_READER_TOKEN="tlr_from-env", WEB_NODE_CA_FILE=str(tmp_path / "ca.crt"))
    args = parse_args([], "https://web:8080", env)
    assert (args.token, args.ca_file) == ("tlr_from-env", tmp_path / "ca.crt")
    args = parse_args(["--token", "tlr_cli", "--ca-file", "/x.crt"], "https://web:8080", env)
    assert (args.token, str(args.ca_file)) == ("tlr_cli", "/x.crt")
