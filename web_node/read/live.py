"""`GET /api/v1/live`: push each newly stored reading to WebSocket clients, fed by the write path.

`POST /api/v1/batches` calls `LiveHub.publish` right after the
commit, with the readings actually stored, so nothing polls the database. Every client has
its own bounded queue and publishing never waits: a client whose queue is full is dropped
(close 1013, "try again later"), so a slow reader can neither slow ingestion nor grow memory.
Each reading is serialised once, however many clients there are.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiohttp import WSCloseCode, web

from protocol.readings import ReadingIn, reading_out
from web_node.appkeys import live_hub_key
from web_node.errors import ApiError
from web_node.read import params

log = logging.getLogger(__name__)

HEARTBEAT_S = 10.0
CLOSE_TIMEOUT_S = 5.0  # shutdown (1001): a client's time to answer the close frame
DROP_CLOSE_TIMEOUT_S = 1.0  # a client dropped for not reading (1013) will not read its close frame either
MAX_CLIENT_MESSAGE = 4096  # clients have nothing to say beyond pings and the close


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str
    timeout_s: float = CLOSE_TIMEOUT_S


class LiveClient:
    """One socket's subscription: a sensor filter (empty: all) and a bounded queue of JSON texts."""

    def __init__(self, sensors: Iterable[str], queue_size: int) -> None:
        self.sensors = frozenset(sensors)
        self.queue: asyncio.Queue[str | _Close] = asyncio.Queue(maxsize=queue_size)
        self.closing = False
        self.sending = False  # the sender is waiting for the socket to take a message
        self.transport: asyncio.BaseTransport | None = None

    def wants(self, sensor_id: str) -> bool:
        return not self.sensors or sensor_id in self.sensors

    def offer(self, text: str) -> bool:
        """Queue a message without waiting; False if the queue is full."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    def close(self, code: int, reason: str, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Discard what is queued (freeing it now) and have the sender close the socket."""
        if self.closing:
            return
        self.closing = True
        while not self.queue.empty():
            self.queue.get_nowait()
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

    def __len__(self) -> int:
        return len(self._clients)

    def subscribe(self, sensors: Iterable[str] = ()) -> LiveClient:
        client = LiveClient(sensors, self.queue_size)
        self._clients.add(client)
        return client

    def unsubscribe(self, client: LiveClient) -> None:
        self._clients.discard(client)

    def publish(self, readings: Sequence[ReadingIn]) -> None:
        """Queue each reading for every client that wants it; drop clients that cannot keep up."""
        if not self._clients or not readings:
            return
        messages = [(r.sensor_id, json.dumps(reading_out(vars(r)))) for r in readings]  # vars: the fields, no copy
        for client in list(self._clients):
            for sensor_id, text in messages:
                if client.wants(sensor_id) and not client.offer(text):
                    self._drop(client)
                    break

    def close_all(self) -> None:
        """Close every socket (server shutting down)."""
        for client in list(self._clients):
            client.close(WSCloseCode.GOING_AWAY, "server shutting down")
        self._clients.clear()

    def _drop(self, client: LiveClient) -> None:
        self.dropped += 1
        self._clients.discard(client)
        log.warning("dropping a live client %d messages behind (close 1013)", self.queue_size)
        client.close(
            WSCloseCode.TRY_AGAIN_LATER, f"too slow: more than {self.queue_size} messages behind", DROP_CLOSE_TIMEOUT_S
        )


async def live(request: web.Request) -> web.WebSocketResponse:
    """The WebSocket: one JSON text message per stored reading, optionally `?sensor=` filtered."""
    params.check_names(request.query, ("sensor",), repeatable=("sensor",))
    return await serve_socket(request, request.app[live_hub_key], params.sensors(request.query))


async def serve_socket(request: web.Request, hub: LiveHub, sensors: Iterable[str]) -> web.WebSocketResponse:
    """Subscribe to `hub` and stream what it publishes until either side closes."""
    ws = web.WebSocketResponse(heartbeat=hub.heartbeat, max_msg_size=MAX_CLIENT_MESSAGE)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "websocket_required", f"GET {request.path} is a WebSocket: it needs the Upgrade handshake")
    client = hub.subscribe(sensors)  # before the handshake: nothing stored after it is missed
    try:
        await ws.prepare(request)
        client.transport = request.transport
        sender = asyncio.create_task(_send(ws, client))
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


async def _send(ws: web.WebSocketResponse, client: LiveClient) -> None:
    while True:
        item = await client.queue.get()
        if isinstance(item, _Close):
            await _close(ws, item, client.transport)
            return
        client.sending = True
        try:
            await ws.send_str(item)  # waits only while the socket's buffer is full
        except ConnectionError:  # the client went away (or was dropped); the reading loop notices too
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
