"""The alert read API (docs/API.md, Alerts): current alerts, the transition history, the rules."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from protocol.bodies import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
from protocol.readings import rfc3339
from web_node.alerts.engine import FIRING, OK, PENDING, Transition
from web_node.alerts.rules import NAME, RuleSet
from web_node.alerts.tables import AlertStateRow, AlertTransition
from web_node.appkeys import alerts_key
from web_node.read import params
from web_node.read.reads import read_database, whole_oldest_ts

_state = AlertStateRow.__table__
_transitions = AlertTransition.__table__


def _ruleset(request: web.Request) -> RuleSet:
    alerts = request.app.get(alerts_key)
    return alerts.ruleset if alerts is not None else RuleSet()


def _rule_names(query) -> list[str]:
    names = query.getall("rule", [])
    for name in names:
        if not NAME.fullmatch(name):
            raise params.invalid("rule", name, "must be a rule name: 1..64 of A-Z a-z 0-9 _ . -")
    return list(dict.fromkeys(names))


async def current(request: web.Request) -> web.Response:
    """Every (rule, sensor) now pending or firing; `state=firing` (or `pending`) narrows."""
    query = request.query
    params.check_names(query, ("state", "sensor", "rule"), repeatable=("sensor", "rule"))
    state = query.get("state")
    if state is not None and state not in (PENDING, FIRING):
        raise params.invalid("state", state, "must be pending or firing")
    sensors, rules = params.sensors(query), _rule_names(query)
    stmt = select(_state).where(_state.c.state == state if state else _state.c.state != OK)
    if sensors:
        stmt = stmt.where(_state.c.sensor_id.in_(sensors))
    if rules:
        stmt = stmt.where(_state.c.rule.in_(rules))
    async with read_database(request) as conn:
        rows = (await conn.execute(stmt.order_by(_state.c.rule, _state.c.sensor_id))).all()
    ruleset, alerts = _ruleset(request), []
    for row in rows:
        rule = ruleset.by_name(row.rule)
        if rule is None:  # a rule no longer in force: its state is being dropped
            continue
        alerts.append(
            {
                "rule": row.rule,
                "sensor_id": row.sensor_id,
                "severity": rule.severity,
                "state": row.state,
                "since": rfc3339(row.since),
                "value": row.value,
                "threshold": rule.silent_for if rule.silent else row.threshold,
                "summary": rule.summarise(row.sensor_id, row.value),
            }
        )
    return web.json_response({"alerts": alerts})


async def history(request: web.Request) -> web.Response:
    """Transitions with since <= ts < until, newest first; `next_until` pages to older ones."""
    query = request.query
    params.check_names(query, ("since", "until", "sensor", "rule", "limit"), repeatable=("sensor", "rule"))
    since, until = params.instant(query, "since"), params.instant(query, "until")
    limit = params.integer(query, "limit", default=PAGE_LIMIT_DEFAULT, low=1, high=PAGE_LIMIT_MAX)
    sensors, rules = params.sensors(query), _rule_names(query)
    stmt = select(_transitions).order_by(_transitions.c.ts.desc(), _transitions.c.seq.desc())
    if since is not None:
        stmt = stmt.where(_transitions.c.ts >= since)
    if until is not None:
        stmt = stmt.where(_transitions.c.ts < until)
    if sensors:
        stmt = stmt.where(_transitions.c.sensor_id.in_(sensors))
    if rules:
        stmt = stmt.where(_transitions.c.rule.in_(rules))
    async with read_database(request) as conn:
        rows = (await conn.execute(stmt.limit(limit + 1))).all()
        page = rows[:limit]
        if len(rows) > limit and rows[limit].ts == page[-1].ts:  # the silent timer records many at one ts
            page = whole_oldest_ts(page, (await conn.execute(stmt.where(_transitions.c.ts == page[-1].ts))).all())
    return web.json_response(
        {
            "transitions": [transition_json(row) for row in page],
            "next_until": rfc3339(page[-1].ts) if len(rows) > limit else None,
        }
    )


def transition_json(row) -> dict:
    """A stored transition (an `alert_transitions` row, `seq` first) as the issue's JSON object."""
    return Transition(*tuple(row)[1:]).as_json()


async def rules(request: web.Request) -> web.Response:
    """The rules in force (empty when alerting is off)."""
    params.check_names(request.query, ())
    return web.json_response({"rules": [rule.as_json() for rule in _ruleset(request).rules]})
