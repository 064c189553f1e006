"""Sockets the web node lets go of (issue 11, web node edges): a live client dropped with 1013
has its connection closed at once, and a request whose headers never finish is closed after
WEB_NODE_HEADER_TIMEOUT_S.

A real web node on a loopback port (SQLite file, and PostgreSQL); the clients are raw sockets,
so nothing between the test and the server reads, buffers or closes on their behalf.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Iterator

import pytest

from protocol.settings import Settings
from tests.support.waiting import async_eventually
from tests.web_node.writes import Writer, reading_at
from web_node.appkeys import live_hub_key

T0 = 1_764_000_000.0


@pytest.fixture
def raw_sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


async def connect(node, opened: list[socket.socket], *, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    opened.append(sock)
    if rcvbuf is not None:  # before connect, so the window it advertises is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    host, port = node.url.removeprefix("http://").split(":")
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    return sock


async def read_until_closed(sock: socket.socket, timeout: float = 30.0) -> bytes:
    """Everything the server sent until it closed (EOF or reset); fails if it never does."""
    loop, data = asyncio.get_running_loop(), bytearray()

    async def drain() -> None:
        while True:
            try:
                chunk = await loop.sock_recv(sock, 65536)
            except ConnectionResetError:
                return
            if not chunk:
                return
            data.extend(chunk)

    await asyncio.wait_for(drain(), timeout)
    return bytes(data)


def server_side(node, sock: socket.socket) -> list:
    """The web node's open connections from this client socket."""
    mine = sock.getsockname()
    return [
        h
        for h in node.runner.server.connections
        if h.transport is not None and h.transport.get_extra_info("peername") == mine
    ]


async def test_a_live_client_dropped_with_1013_is_disconnected_at_once(web_node_factory, http, raw_sockets):
    node = await web_node_factory(batch_max_readings=500)  # each live client may fall 1,000 messages behind
    hub = node.app[live_hub_key]
    sock = await connect(node, raw_sockets, rcvbuf=4096)
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET /api/v1/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, handshake.encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += await asyncio.wait_for(loop.sock_recv(sock, 1), 10)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    await async_eventually(lambda: len(hub) == 1, timeout=10)
    assert len(server_side(node, sock)) == 1

    # the client now reads nothing: its window closes, the server's buffers fill, its queue overflows
    writer, seq = Writer(http, node, batch=500), 0
    while hub.dropped == 0:
        assert seq < 200_000, "the client was never dropped"
        assert await writer.store([reading_at("live-1", seq + i, T0 + seq + i) for i in range(500)]) == 500
        seq += 500
    # released while the client still has not read a byte more: not waiting for it to drain
    await async_eventually(lambda: not server_side(node, sock), timeout=15, message="server still holds the socket")
    assert len(hub) == 0
    await read_until_closed(sock)  # and the client sees the end of the stream


@pytest.mark.parametrize("partial", [b"", b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"])
async def test_a_request_whose_headers_never_finish_is_closed(web_node_factory, raw_sockets, partial):
    node = await web_node_factory(web_node_header_timeout_s=0.5)
    sock = await connect(node, raw_sockets)
    if partial:
        await asyncio.get_running_loop().sock_sendall(sock, partial)
    assert await read_until_closed(sock, timeout=30) == b""  # closed without an answer
    await async_eventually(lambda: not server_side(node, sock), timeout=10)


async def test_a_complete_request_is_answered_under_the_header_timeout(web_node_factory, raw_sockets):
    node = await web_node_factory(web_node_header_timeout_s=0.5)
    sock = await connect(node, raw_sockets)
    await asyncio.get_running_loop().sock_sendall(sock, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = await read_until_closed(sock)  # answered, then closed when idle past the timeout
    assert answer.startswith(b"HTTP/1.1 200") and b'"status": "ok"' in answer


def test_the_header_timeout_defaults_to_10_s(monkeypatch):
    monkeypatch.delenv("WEB_NODE_HEADER_TIMEOUT_S", raising=False)
    assert Settings().web_node_header_timeout_s == 10.0
    monkeypatch.setenv("WEB_NODE_HEADER_TIMEOUT_S", "2.5")
    assert Settings().web_node_header_timeout_s == 2.5
