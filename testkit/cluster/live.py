"""A live client of the cluster, as a dashboard is one: `/api/v1/live` through the balancer (the
desktop client's own ApiClient, with a reader token, verifying TLS), in a thread of its own. When
its socket ends — the replica it was on was killed — it connects again by itself with a backoff,
and the balancer places it on a replica that is up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field

import aiohttp

from desktop_client.api import ApiClient, WebNodeError

log = logging.getLogger(__name__)

BACKOFF_S = (0.1, 2.0)  # first and longest wait between connection attempts


@dataclass
class Received:
    """What the client got: readings as (sensor_id, seq, when received: time.monotonic) and the
    monotonic times each socket opened."""

    readings: list[tuple[str, int, float]] = field(default_factory=list)
    connected_at: list[float] = field(default_factory=list)


class LiveListener:
    def __init__(self, url: str, token: str | None, ca_file: str, prefix: str = "") -> None:
        self._url, self._token, self._ca_file, self._prefix = url, token, ca_file, prefix
        self._lock = threading.Lock()
        self._received = Received()
        self._loop = asyncio.new_event_loop()
        self._stopped = asyncio.Event()  # bound to the thread's loop on first use
        self._thread = threading.Thread(target=self._run, name="live-listener", daemon=True)

    def __enter__(self) -> LiveListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(10)

    def received(self) -> Received:
        with self._lock:
            return Received(list(self._received.readings), list(self._received.connected_at))

    def _run(self) -> None:
        self._loop.run_until_complete(self._listen())
        self._loop.close()

    async def _listen(self) -> None:
        context = ssl.create_default_context(cafile=self._ca_file)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
            api = ApiClient(self._url, session, self._token)
            backoff = BACKOFF_S[0]
            while not self._stopped.is_set():
                try:
                    await self._one_socket(api)
                    backoff = BACKOFF_S[0]  # it was up: the next attempt at once-ish
                except (aiohttp.ClientError, OSError, TimeoutError, WebNodeError) as exc:
                    log.info("live socket failed (%s); again in %.1fs", exc, backoff)
                    backoff = min(backoff * 2, BACKOFF_S[1])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), backoff)

    async def _one_socket(self, api: ApiClient) -> None:
        async with api.live() as samples:
            with self._lock:
                self._received.connected_at.append(time.monotonic())
            reading = asyncio.ensure_future(_next(samples))
            stop = asyncio.ensure_future(self._stopped.wait())
            try:
                while True:
                    done, _ = await asyncio.wait({reading, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if stop in done:
                        return
                    sample = reading.result()
                    if sample is None:
                        return  # the socket closed: the caller connects again
                    if sample.sensor_id.startswith(self._prefix):
                        with self._lock:
                            self._received.readings.append((sample.sensor_id, sample.seq, time.monotonic()))
                    reading = asyncio.ensure_future(_next(samples))
            finally:
                for task in (reading, stop):
                    task.cancel()


async def _next(samples):  # type: ignore[no-untyped-def]
    return await anext(samples, None)
