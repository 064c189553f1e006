"""Network I/O off the GUI thread: a QThread running an asyncio loop with aiohttp.

The GUI talks to it through thread-safe calls (`set_window`, `stop`) and listens to its Qt
signals, which Qt queues onto the GUI thread because they are emitted from this thread.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import AsyncIterator

import aiohttp
from PyQt5.QtCore import QObject, QThread, pyqtSignal

from desktop_client.alert_feed import AlertFeed
from desktop_client.api import ApiClient, WebNodeError
from desktop_client.backoff import Backoff
from desktop_client.options import ClientOptions, plan_for
from desktop_client.records import History, Sample, WireError
from protocol.web_tls import ca_context

log = logging.getLogger(__name__)

FLUSH_S = 0.05  # live readings reach the GUI in batches at most this old
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=5)


class ConnectionState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


class NetworkWorker(QThread):
    """Keeps the live socket open (reconnecting with back-off) and loads history on request."""

    sensors_loaded = pyqtSignal(object)  # list[SensorInfo]
    history_loaded = pyqtSignal(object)  # History
    readings_arrived = pyqtSignal(object)  # list[Sample], in arrival order
    state_changed = pyqtSignal(str, str)  # ConnectionState value, detail
    notice = pyqtSignal(str)  # a problem worth showing, not a connection change
    alerts_loaded = pyqtSignal(object)  # AlertSnapshot: rules, current alerts, the window's transitions
    alert_arrived = pyqtSignal(object)  # Transition, live

    def __init__(self, options: ClientOptions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.options = options
        self._request = (0, options.window_s)  # (generation, window seconds), replaced whole
        self._stop_requested = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._history_task: asyncio.Task | None = None
        self._client: ApiClient | None = None
        self._alerts: AlertFeed | None = None

    # -- called from the GUI thread ---------------------------------------------------------
    def set_window(self, window_s: int) -> int:
        """Ask for the history of a new window; returns the generation its answer will carry."""
        generation = self._request[0] + 1
        self._request = (generation, window_s)
        self._call_soon(self._load_history)
        return generation

    def stop(self, timeout_ms: int = 10_000) -> None:
        self._stop_requested.set()
        self._call_soon(lambda: self._stopping.set() if self._stopping else None)
        if not self.wait(timeout_ms):
            log.error("network thread did not stop within %d ms", timeout_ms)

    def _call_soon(self, callback) -> None:  # type: ignore[no-untyped-def]
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback)
            except RuntimeError:  # closed between the check and the call: nothing left to do
                pass

    # -- the network thread -----------------------------------------------------------------
    def run(self) -> None:
        asyncio.run(self._main())
        self.state_changed.emit(ConnectionState.STOPPED.value, "")

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if self._stop_requested.is_set():
            return
        tls = ca_context(self.options.ca_file)  # an https:// web node, verified against its CA
        connector = aiohttp.TCPConnector(ssl=tls if tls is not None else True)
        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT, connector=connector) as session:
            self._client = ApiClient(self.options.url, session, token=self.options.token)
            self._alerts = AlertFeed(
                self._client,
                lambda: self._request,
                self.options.sensors.accepts,
                self.alerts_loaded.emit,
                self.alert_arrived.emit,
                self.options.backoff_max_s,
            )
            live = asyncio.create_task(self._live_loop())
            alerts = asyncio.create_task(self._follow_alerts(self._alerts))
            await self._stopping.wait()
            for task in (live, alerts, self._history_task):
                if task:
                    task.cancel()
            tasks = [live, alerts, *([self._history_task] if self._history_task else [])]
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _live_loop(self) -> None:
        backoff = Backoff(maximum=self.options.backoff_max_s)
        self.state_changed.emit(ConnectionState.CONNECTING.value, self.options.url)
        assert self._client is not None
        while True:
            try:
                async with self._client.live(self.options.sensors.exact_ids) as samples:
                    backoff.reset()
                    self.state_changed.emit(ConnectionState.CONNECTED.value, self.options.url)
                    self._load_history()  # also fills whatever gap the disconnection left
                    await self._pump(samples)
                reason = "live socket closed"
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
            delay = backoff.next_delay()
            log.info("live: %s; reconnecting in %.1f s", reason, delay)
            self.state_changed.emit(ConnectionState.RECONNECTING.value, f"{reason}; retry in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def _pump(self, samples: AsyncIterator[Sample]) -> None:
        pending: list[Sample] = []

        async def flush_periodically() -> None:
            while True:
                await asyncio.sleep(FLUSH_S)
                if pending:
                    self.readings_arrived.emit(pending[:])
                    pending.clear()

        flusher = asyncio.create_task(flush_periodically())
        try:
            async for sample in samples:
                if self.options.sensors.accepts(sample.sensor_id):
                    pending.append(sample)
        finally:
            flusher.cancel()
            if pending:
                self.readings_arrived.emit(pending[:])

    def _load_history(self) -> None:
        if self._history_task and not self._history_task.done():
            self._history_task.cancel()
        self._history_task = asyncio.get_running_loop().create_task(self._fetch_history(*self._request))
        if self._alerts is not None:
            self._alerts.reload()  # the alerts of the same window, and a new try if alerting was off

    async def _follow_alerts(self, feed: AlertFeed) -> None:
        try:
            await feed.run()
        except Exception:
            log.exception("following alerts failed")  # a bug: said loudly, the readings carry on
            self.notice.emit("alerts stopped: see the log")
            raise

    async def _fetch_history(self, generation: int, window_s: int) -> None:
        assert self._client is not None
        plan = plan_for(window_s)
        try:
            infos = await self._client.sensors()
            self.sensors_loaded.emit(infos)
            ids = [i.sensor_id for i in infos if self.options.sensors.accepts(i.sensor_id)]
            now = time.time()
            blocks = await self._client.history(plan, ids, now, self.options.capacity)
        except (TimeoutError, aiohttp.ClientError, OSError, WebNodeError, WireError) as exc:
            log.warning("loading the %d s window failed: %s", window_s, exc)
            self.notice.emit(f"history not loaded: {exc}")
            return
        if generation == self._request[0]:
            self.history_loaded.emit(History(generation, plan, now - window_s, now, blocks))
