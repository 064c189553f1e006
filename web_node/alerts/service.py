"""Alerting on one web node: the rules in force (reloaded on change), the judge the storage runs
in each batch's transaction, and where recorded transitions go next (live socket, metrics, sinks).

Built by `create_app` only when TELERING_ALERT_RULES is set; a bad file then is a start-up error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import text

from protocol.watched_file import WatchedFile
from web_node.alerts.engine import Transition
from web_node.alerts.live import AlertHub
from web_node.alerts.metrics import AlertMetrics
from web_node.alerts.rules import RulesError, RuleSet, load_rules
from web_node.alerts.store import AlertJudge

log = logging.getLogger(__name__)

RELOAD_POLL_S = 2.0  # a changed file is in force within 10 s (the issue): one poll plus a parse
LIVE_QUEUE = 10_000


class Alerts:
    """The rules in force and the fan-out of transitions; `reload()` swaps rules atomically."""

    def __init__(self, path: Path, registry: CollectorRegistry) -> None:
        self.path = path
        self._file = WatchedFile(path)
        self.ruleset: RuleSet = load_rules(path)  # RulesError: the caller's start-up error
        self.judge = AlertJudge(lambda: self.ruleset)
        self.hub = AlertHub(queue_size=LIVE_QUEUE)
        self.metrics = AlertMetrics(registry)
        self.wakeups: list[asyncio.Event] = []  # one per sink: set when there is something new
        self.listeners: list[Callable[[Sequence[Transition]], None]] = []
        log.info("alert rules from %s: %s", path, ", ".join(r.name for r in self.ruleset.rules) or "none")

    def recorded(self, transitions: Sequence[Transition]) -> None:
        """Committed transitions (a batch's or the silent timer's): tell everyone who follows them."""
        self.metrics.recorded(transitions)
        self.hub.publish_transitions(transitions)
        for listener in self.listeners:
            listener(transitions)
        for wakeup in self.wakeups:
            wakeup.set()

    def reload(self) -> frozenset[str] | None:
        """Re-read the file if it changed: the names of rules dropped (empty if none), or None if
        nothing changed or the new file is bad (logged once per change; the last good rules stay)."""
        if not self._file.changed():
            return None
        try:
            ruleset = load_rules(self.path)
        except RulesError as exc:
            self.metrics.reload_failures.inc()
            log.error("alert rules not reloaded, the last good ones stay: %s", exc)
            return None
        dropped = self.ruleset.names - ruleset.names
        self.ruleset = ruleset
        log.info("alert rules reloaded from %s: %s", self.path, ", ".join(r.name for r in ruleset.rules) or "none")
        return dropped

    async def run(self, storage, *, poll_s: float = RELOAD_POLL_S) -> None:
        """Poll the rules file and refresh the `telering_alerts` gauge, until cancelled."""
        while True:
            try:
                dropped = self.reload()
                if dropped:
                    await storage.maintain(lambda conn, names=dropped: _drop_states(conn, names))
                await self._refresh_gauge(storage)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup: the next poll tries again
                log.exception("alert rules poll failed")
            await asyncio.sleep(poll_s)

    async def _refresh_gauge(self, storage) -> None:
        async with storage.feeds.connect() as conn:
            rows = await conn.execute(
                text("SELECT rule, state, count(*) FROM alert_state WHERE state <> 'ok' GROUP BY rule, state")
            )
            counts = {}
            for rule_name, state, count in rows:
                rule = self.ruleset.by_name(rule_name)
                if rule is not None:
                    counts[(rule_name, rule.severity, state)] = count
        self.metrics.set_current(counts)


async def _drop_states(conn, names: frozenset[str]) -> None:
    for name in sorted(names):
        await conn.execute(text("DELETE FROM alert_state WHERE rule = :rule"), {"rule": name})
