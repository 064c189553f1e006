"""Alertmanager, fed the way Prometheus feeds it: POST /api/v2/alerts with every firing alert,
re-sent every interval with an `endsAt` a few minutes ahead (so Alertmanager never resolves it
on its own), and each resolution once with `endsAt` at its ts.

One sink per URL, each with its own cursor in `alert_cursor`: an Alertmanager that was down gets
every still-firing alert (they are re-sent from `alert_state`) and every resolution (from the
outbox past its cursor) once it answers again. Routing, grouping, silences are Alertmanager's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from protocol.readings import rfc3339
from web_node.alerts.engine import FIRING, OK
from web_node.alerts.metrics import AlertMetrics
from web_node.alerts.outbox import Outbox
from web_node.alerts.rules import RuleSet

log = logging.getLogger(__name__)

RETRY_S = (1.0, 2.0, 5.0)
TIMEOUT_S = 10.0


def ends_ahead(interval_s: float) -> float:
    """How far ahead a firing alert's endsAt is: well past the next re-send (Prometheus uses 4 x)."""
    return max(240.0, 4 * interval_s)


class AlertmanagerSink:
    """Posts to one Alertmanager; `run` loops until cancelled, woken by `wakeup` on new transitions."""

    def __init__(
        self,
        url: str,
        outbox: Outbox,
        rules: Callable[[], RuleSet],
        metrics: AlertMetrics,
        wakeup: asyncio.Event,
        session: aiohttp.ClientSession,
        *,
        interval_s: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.sink = f"alertmanager {self.url}"
        self.outbox, self.rules, self.metrics, self.wakeup = outbox, rules, metrics, wakeup
        self.session, self.interval_s = session, interval_s

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self.post_once()
                failures = 0
            except (aiohttp.ClientError, TimeoutError, OSError, SQLAlchemyError) as exc:
                self.metrics.posts.labels("error").inc()
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                log.warning("Alertmanager %s: %s; retrying in %.0f s", self.url, exc or type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            try:
                await asyncio.wait_for(self.wakeup.wait(), self.interval_s)
            except TimeoutError:
                pass
            self.wakeup.clear()

    async def post_once(self) -> None:
        """Every firing alert, plus the resolutions past the cursor; then advance the cursor."""
        ruleset: RuleSet = self.rules()
        cursor = await self.outbox.cursor(self.sink)
        rows = await self.outbox.after(cursor, limit=10_000)
        now = time.time()
        alerts, firing = [], set()
        for rule_name, sensor_id, since, value, _threshold in await self.outbox.firing():
            rule = ruleset.by_name(rule_name)
            if rule is None:
                continue
            firing.add((rule_name, sensor_id))
            alerts.append(
                _alert(
                    rule_name,
                    sensor_id,
                    rule.severity,
                    rule.summarise(sensor_id, value),
                    since,
                    now + ends_ahead(self.interval_s),
                )
            )
        for row in rows:
            if row.from_state == FIRING and row.to_state == OK and (row.rule, row.sensor_id) not in firing:
                alerts.append(_alert(row.rule, row.sensor_id, row.severity, row.summary, _started(rows, row), row.ts))
        if alerts:
            async with self.session.post(
                f"{self.url}/api/v2/alerts", json=alerts, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
            ) as resp:
                if resp.status >= 300:
                    raise aiohttp.ClientResponseError(
                        resp.request_info, resp.history, status=resp.status, message=(await resp.text())[:200]
                    )
            self.metrics.posts.labels("ok").inc()
        if rows:
            await self.outbox.advance(self.sink, rows[-1].seq)


def _started(rows, resolution) -> float:
    """When the resolved alert began firing, if that transition is in view; else its resolution time
    (Alertmanager matches alerts by labels, so startsAt only shows in its UI)."""
    for row in reversed(rows):
        same = row.rule == resolution.rule and row.sensor_id == resolution.sensor_id
        if same and row.seq < resolution.seq and row.to_state == FIRING:
            return row.ts
    return resolution.ts


def _alert(rule: str, sensor_id: str, severity: str, summary: str, starts: float, ends: float) -> dict:
    return {
        "labels": {"alertname": rule, "sensor_id": sensor_id, "severity": severity},
        "annotations": {"summary": summary},
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(max(ends, starts)),
    }
