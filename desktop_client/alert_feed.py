"""Alerts on the network thread: the rules, current alerts and the window's transitions, then
the live transitions of /api/v1/alerts/live; no Qt here (the worker passes its signals' emits).

The live socket is opened before the snapshot is loaded, and read only after the snapshot is
handed on, so a transition recorded in between arrives after the snapshot that may or may not
hold it: applied in order, the last one per (rule, sensor) wins either way. A web node without
alerting answers 404: then the feed hands on an empty snapshot once and stays quiet until the
next `reload` (a window change, or the readings socket reconnecting).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp

from desktop_client.alert_records import AlertSnapshot, Transition
from desktop_client.api import AlertingOff, ApiClient, WebNodeError
from desktop_client.backoff import Backoff
from desktop_client.records import WireError

log = logging.getLogger(__name__)

HISTORY_MAX = 5000  # transitions loaded per window (the newest ones)


class AlertFeed:
    """Follows the web node's alerts for the requested window; `run` until cancelled."""

    def __init__(
        self,
        client: ApiClient,
        request: Callable[[], tuple[int, int]],
        accepts: Callable[[str], bool],
        on_snapshot: Callable[[AlertSnapshot], None],
        on_transition: Callable[[Transition], None],
        backoff_max_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._request = request  # -> (generation, window seconds) asked for now
        self._accepts = accepts  # the sensor filter
        self._on_snapshot, self._on_transition = on_snapshot, on_transition
        self._backoff_max_s = backoff_max_s
        self._clock = clock
        self._wake = asyncio.Event()

    def reload(self) -> None:
        """Load everything again (the first call starts the feed); call on the feed's loop."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            following = asyncio.create_task(self._follow())
            woken = asyncio.create_task(self._wake.wait())
            try:
                await asyncio.wait((following, woken), return_when=asyncio.FIRST_COMPLETED)
            finally:
                following.cancel()
                woken.cancel()
                await asyncio.gather(following, woken, return_exceptions=True)
            if not following.cancelled() and following.exception() is not None:
                raise following.exception()  # type: ignore[misc]  # a bug, not the network: loud

    async def _follow(self) -> None:
        """Subscribe, hand on the snapshot, then each live transition; reconnect with back-off.
        Returns when the web node serves no alerts."""
        backoff = Backoff(maximum=self._backoff_max_s)
        while True:
            try:
                async with self._client.alert_transitions() as transitions:
                    self._on_snapshot(await self._snapshot())
                    backoff.reset()
                    async for transition in transitions:
                        if self._accepts(transition.sensor_id):
                            self._on_transition(transition)
                reason = "alerts socket closed"
            except AlertingOff as exc:
                log.info("no alerts from this web node (%s); not asking again until the next reload", exc)
                self._on_snapshot(AlertSnapshot(self._request()[0], enabled=False))
                return
            except (TimeoutError, aiohttp.ClientError, OSError, WebNodeError, WireError) as exc:
                reason = str(exc) or type(exc).__name__
            delay = backoff.next_delay()
            log.info("alerts: %s; reconnecting in %.1f s", reason, delay)
            await asyncio.sleep(delay)

    async def _snapshot(self) -> AlertSnapshot:
        generation, window_s = self._request()
        rules, alerts, transitions = await asyncio.gather(
            self._client.alert_rules(),
            self._client.alerts(),
            self._client.alert_history(self._clock() - window_s, HISTORY_MAX),
        )
        return AlertSnapshot(
            generation,
            enabled=True,
            rules=rules,
            alerts=[a for a in alerts if self._accepts(a.sensor_id)],
            transitions=[t for t in transitions if self._accepts(t.sensor_id)],
        )
