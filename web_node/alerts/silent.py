"""Silent rules' timer: `ok -> firing` for each (silent rule, sensor that has sent before) whose
last stored reading is `silent_for` old (wall clock), with ts = the moment silence passed.

Runs every second in a write transaction of its own, through the storage's writer (between
batches). On PostgreSQL it first locks the fence row, as every batch's transaction does, so it
is serialised with every web node's writes and two web nodes cannot both fire the same alert.
`firing -> ok` is the batch's (engine.judge), at the sensor's next stored reading.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from web_node.alerts.engine import FIRING, OK, AlertState, Transition, transition
from web_node.alerts.rules import RuleSet
from web_node.alerts.store import SQLITE_SQL, state_params, transition_params

log = logging.getLogger(__name__)

TICK_S = 1.0


def _named(statement: str, columns: int) -> str:
    """A `?`-placeholder statement of alerts/store.py, with :p0.. names for SQLAlchemy text()."""
    for i in range(columns):
        statement = statement.replace("?", f":p{i}", 1)
    return statement


async def fire_silent(conn: AsyncConnection, ruleset: RuleSet, now: float, *, lock_fence: bool) -> list[Transition]:
    """Record the silences that passed by `now`, in `conn`'s open transaction; the transitions."""
    silent = [r for r in ruleset.rules if r.silent]
    if not silent:
        return []
    if lock_fence:
        await conn.execute(text("SELECT epoch FROM grant_fence WHERE id = 1 FOR UPDATE"))
    cut = now - min(r.silent_for for r in silent)
    quiet = (
        await conn.execute(text("SELECT sensor_id, stored_at FROM alert_sensor WHERE stored_at <= :cut"), {"cut": cut})
    ).all()
    if not quiet:
        return []
    names = {r.name for r in silent}
    firing = {
        (rule, sensor)
        for rule, sensor in await conn.execute(text("SELECT rule, sensor_id FROM alert_state WHERE state = 'firing'"))
        if rule in names
    }
    states, transitions = [], []
    for sensor_id, stored_at in quiet:
        for rule in ruleset.silent_rules(sensor_id):
            passed = stored_at + rule.silent_for
            if passed <= now and (rule.name, sensor_id) not in firing:
                transitions.append(transition(rule, sensor_id, OK, FIRING, None, passed, now))
                states.append(AlertState(rule.name, sensor_id, FIRING, passed, None, None, rule.silent_for))
    if transitions:
        for key, params in (
            ("upsert_state", state_params(states)),
            ("insert_transition", transition_params(transitions)),
        ):
            statement = _named(SQLITE_SQL[key], len(params[0]))
            await conn.execute(text(statement), [{f"p{i}": v for i, v in enumerate(p)} for p in params])
    return transitions


async def run(storage, current, *, tick_s: float = TICK_S) -> None:
    """Every `tick_s`, fire what fell silent (`current()`: the rules in force), until cancelled."""
    lock_fence = storage.dialect == "postgresql"
    while True:
        ruleset = current()
        if ruleset.has_silent:
            try:
                now = time.time()
                fired = await storage.maintain(
                    lambda conn, r=ruleset, t=now: fire_silent(conn, r, t, lock_fence=lock_fence)
                )
                if fired:
                    storage.told_transitions(fired)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup: the next tick tries again
                log.exception("silent-rule check failed")
        await asyncio.sleep(tick_s)
