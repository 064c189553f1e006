"""The web node's alerting JSON as the dashboard tests write it (the shapes of docs/API.md)."""

from __future__ import annotations

import itertools

from protocol.readings import rfc3339

_ids = itertools.count(1)


def threshold_rule(name: str, quantity: str = "temperature", **fields: object) -> dict:
    """A rule of GET /api/v1/alerts/rules: above 80 on temperature, for every sensor, unless told."""
    rule = {"name": name, "sensors": None, "severity": "critical", "quantity": quantity}
    rule |= {"above": 80.0, "below": None, "clear": None, "for": 0.0, "summary": None}
    return rule | fields


def silent_rule(name: str, **fields: object) -> dict:
    return {"name": name, "sensors": None, "severity": "warning", "silent_for": 300.0, "summary": None} | fields


def alert(rule: str, sensor: str, state: str, since: float, severity: str = "critical", value: float | None = 81.0):
    """An item of GET /api/v1/alerts."""
    return {
        "rule": rule,
        "sensor_id": sensor,
        "severity": severity,
        "state": state,
        "since": rfc3339(since),
        "value": value,
        "threshold": 80.0,
        "summary": f"{sensor} at {value}",
    }


def transition(
    rule: str, sensor: str, frm: str, to: str, ts: float, value: float | None = 81.0, severity: str = "critical"
) -> dict:
    """A transition as /api/v1/alerts/history and /api/v1/alerts/live carry it."""
    return {
        "id": f"t-{next(_ids)}",
        "rule": rule,
        "sensor_id": sensor,
        "severity": severity,
        "from": frm,
        "to": to,
        "value": value,
        "threshold": 80.0,
        "ts": rfc3339(ts),
        "at": rfc3339(ts + 0.1),
        "summary": f"{sensor} at {value}",
    }
