"""`GET /api/v1/live`: push each newly stored reading to WebSocket clients.

The readings come from the change feed (web_node/read/changes.py), whichever process stored
them. Every client has its own bounded queue and publishing never waits: a client whose queue
is full is dropped (close 1013, "try again later"), so a slow reader can neither slow ingestion
nor grow memory.

Publishing costs the same however many clients listen: a page of readings is serialised once,
into the WebSocket frames themselves (one text message per reading, as always; a server's
frames are not masked and these are not compressed, so every client is sent the same bytes),
and each client is handed a reference to that one `bytes` object — one queue entry and one
socket write per client per page, not one per reading. Clients with a `?sensor=` filter share
the frames of their filter.

WEB_NODE_LIVE_MAX_PER_READER and WEB_NODE_LIVE_MAX bound the sockets (web_node/read/live_limits.py):
one more is refused 429 before the upgrade.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web
from prometheus_client import Counter, Gauge

from protocol.readings import reading_out
from web_node import jsonio
from web_node.appkeys import change_feed_key, live_hub_key, live_limits_key
from web_node.auth import reader_key
from web_node.errors import ApiError
from web_node.read import params

log = logging.getLogger(__name__)

HEARTBEAT_S = 10.0
CLOSE_TIMEOUT_S = 5.0  # shutdown (1001): a client's time to answer the close frame
DROP_CLOSE_TIMEOUT_S = 1.0  # a client dropped for not reading (1013) will not read its close frame either
MAX_CLIENT_MESSAGE = 4096  # clients have nothing to say beyond pings and the close


@dataclass(frozen=True)
class Frames:
    """Text frames of `count` readings, ready for any client's socket."""

    data: bytes
    count: int


def text_frame(text: str | bytes) -> bytes:
    """One unmasked, uncompressed, final WebSocket text frame (RFC 6455 5.2) of UTF-8 `text`."""
    payload = text.encode() if isinstance(text, str) else text
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str
    timeout_s: float = CLOSE_TIMEOUT_S


class LiveClient:
    """One socket's subscription: a sensor filter (empty: all) and a queue of frames, bounded
    by the readings they hold."""

    def __init__(self, sensors: Iterable[str], queue_size: int) -> None:
        self.sensors = frozenset(sensors)
        self.queue_size = queue_size
        self.queued = 0  # readings in the queue, not yet written to the socket
        self.queue: asyncio.Queue[Frames | _Close] = asyncio.Queue()
        self.closing = False
        self.sending = False  # the sender is waiting for the socket to take a message
        self.transport: asyncio.BaseTransport | None = None

    def wants(self, sensor_id: str) -> bool:
        return not self.sensors or sensor_id in self.sensors

    def offer(self, frames: Frames) -> bool:
        """Queue frames without waiting; False if they would overfill the queue."""
        if self.queued + frames.count > self.queue_size:
            return False
        self.queued += frames.count
        self.queue.put_nowait(frames)
        return True

    def close(self, code: int, reason: str, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Discard what is queued (freeing it now) and have the sender close the socket."""
        if self.closing:
            return
        self.closing = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued = 0
        self.queue.put_nowait(_Close(code, reason, timeout_s))
        if self.sending and self.transport is not None:
            # stuck writing to a client that does not read what it was sent: a close frame would
            # only queue behind that, so the socket is released now (the sender's write fails)
            self.transport.abort()


class LiveHub:
    """The live clients of one web node; `publish` fans stored readings out to them."""

    def __init__(self, queue_size: int, *, heartbeat: float = HEARTBEAT_S) -> None:
        self.queue_size = queue_size
        self.heartbeat = heartbeat
        self.dropped = 0
        self._clients: set[LiveClient] = set()
        # the metrics that follow the hub (web_node/metrics.py sets them)
        self.clients_gauge: Gauge | None = None
        self.dropped_counter: Counter | None = None

    def __len__(self) -> int:
        return len(self._clients)

    def subscribe(self, sensors: Iterable[str] = ()) -> LiveClient:
        client = LiveClient(sensors, self.queue_size)
        self._clients.add(client)
        self._counted()
        return client

    def unsubscribe(self, client: LiveClient) -> None:
        self._clients.discard(client)
        self._counted()

    def _counted(self) -> None:
        if self.clients_gauge is not None:
            self.clients_gauge.set(len(self._clients))

    def publish(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Queue stored readings (in order) for every client that wants them; drop the clients
        that cannot keep up. Each distinct filter's frames are built once, of the readings some
        client wants only (with filtered clients alone, most of a page goes to nobody)."""
        wanted = self.wanted()
        if wanted is not None:
            rows = [row for row in rows if row["sensor_id"] in wanted]
        if rows:
            self.publish_texts([(row["sensor_id"], jsonio.dumps(reading_out(row))) for row in rows])

    def wanted(self) -> frozenset[str] | None:
        """The sensors some client follows; None if a client follows every sensor."""
        if any(not client.sensors for client in self._clients):
            return None
        return frozenset().union(*(client.sensors for client in self._clients))

    def publish_texts(self, texts: Sequence[tuple[str, str | bytes]]) -> None:
        """Queue (sensor id, JSON text) messages, in order, for every client that wants them."""
        if not self._clients or not texts:
            return
        messages = [(sensor_id, text_frame(text)) for sensor_id, text in texts]
        every = Frames(b"".join(frame for _sensor, frame in messages), len(messages))
        filtered: dict[frozenset[str], Frames] = {}
        for client in list(self._clients):
            if not client.sensors:
                frames = every
            elif (frames := filtered.get(client.sensors)) is None:
                picked = [frame for sensor, frame in messages if sensor in client.sensors]
                frames = filtered[client.sensors] = Frames(b"".join(picked), len(picked))
            if frames.count and not client.offer(frames):
                self._drop(client)

    def close_all(self) -> None:
        """Close every socket (server shutting down)."""
        for client in list(self._clients):
            client.close(WSCloseCode.GOING_AWAY, "server shutting down")
        self._clients.clear()
        self._counted()

    def _drop(self, client: LiveClient) -> None:
        self.dropped += 1
        if self.dropped_counter is not None:
            self.dropped_counter.inc()
        self._clients.discard(client)
        self._counted()
        log.warning("dropping a live client %d messages behind (close 1013)", self.queue_size)
        client.close(
            WSCloseCode.TRY_AGAIN_LATER, f"too slow: more than {self.queue_size} messages behind", DROP_CLOSE_TIMEOUT_S
        )


async def live(request: web.Request) -> web.WebSocketResponse:
    """The WebSocket: one JSON text message per stored reading, optionally `?sensor=` filtered."""
    params.check_names(request.query, ("sensor",), repeatable=("sensor",))
    sensors = params.sensors(request.query)
    if not web.WebSocketResponse().can_prepare(request).ok:
        raise ApiError(400, "websocket_required", f"GET {request.path} is a WebSocket: it needs the Upgrade handshake")
    limits = request.app[live_limits_key]
    reader = request.get(reader_key) or f"address {request.remote}"
    limits.admit(reader)  # 429 before the upgrade
    try:
        return await serve_socket(request, request.app[live_hub_key], sensors, request.app[change_feed_key].follow)
    finally:
        limits.release(reader)


async def serve_socket(
    request: web.Request,
    hub: LiveHub,
    sensors: Iterable[str],
    ready: Callable[[], Awaitable[None]] | None = None,
) -> web.WebSocketResponse:
    """Subscribe to `hub` and stream what it publishes until either side closes; `ready`: awaited
    once subscribed, before the handshake (the change feed following from now on)."""
    # never compressed: every client is sent the same prepared frames
    ws = web.WebSocketResponse(heartbeat=hub.heartbeat, max_msg_size=MAX_CLIENT_MESSAGE, compress=False)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "websocket_required", f"GET {request.path} is a WebSocket: it needs the Upgrade handshake")
    client = hub.subscribe(sensors)  # before the handshake: nothing published after it is missed
    try:
        if ready is not None:
            await ready()
        await ws.prepare(request)
        client.transport = request.transport
        sender = asyncio.create_task(_send(ws, client, request))
        try:
            async for _message in ws:  # nothing to read, but reading is what notices a close
                pass
        finally:
            sender.cancel()
            await asyncio.wait({sender})
            if not sender.cancelled() and sender.exception() is not None:
                log.error("live sender failed", exc_info=sender.exception())
    finally:
        hub.unsubscribe(client)
    return ws


async def shutdown(app: web.Application) -> None:
    """on_shutdown: close the sockets, so the server need not wait out their handlers."""
    app[live_hub_key].close_all()


async def _send(ws: web.WebSocketResponse, client: LiveClient, request: web.Request) -> None:
    transport = request.transport
    while True:
        item = await client.queue.get()
        if isinstance(item, _Close):
            await _close(ws, item, client.transport)
            return
        client.queued -= item.count
        if transport is None or transport.is_closing():  # the client went away; the reading loop notices
            return
        # whole frames, written at once like aiohttp's own writer does, so they never interleave with
        # its pings and close; then wait, as it does, while the socket's buffer is over its high mark
        transport.write(item.data)
        client.sending = True
        try:
            await request.protocol._drain_helper()
        except ConnectionError:
            return
        finally:
            client.sending = False


async def _close(ws: web.WebSocketResponse, item: _Close, transport: asyncio.BaseTransport | None) -> None:
    """The close handshake, then the socket released at once: aiohttp's own close() leaves the
    transport to close "gracefully", which waits for the client to read what is still buffered —
    for a client too slow to keep up, possibly never (a dropped client's socket was seen still
    held 39 s later)."""
    try:
        await asyncio.wait_for(ws.close(code=item.code, message=item.reason.encode()), item.timeout_s)
    except TimeoutError:
        log.info("a live client did not take its close frame within %.0f s", item.timeout_s)
    finally:
        if transport is not None:
            transport.abort()  # after a completed handshake nothing is left to send; otherwise it is dropped
