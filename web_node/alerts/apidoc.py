"""The alert routes in the OpenAPI document (web_node/openapi.py adds these operations)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.bodies import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
from protocol.readings import SensorId, UtcTimestamp
from web_node.apidoc import Answer, Operation, Param
from web_node.openapi_shared import INSTANT, READ_ERRORS, READER, SOCKET_RESPONSES, integer
from web_node.read.live import HEARTBEAT_S

Severity = Literal["info", "warning", "critical"]
State = Literal["ok", "pending", "firing"]
RULE_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AlertOut(_Answer):
    rule: str
    sensor_id: SensorId
    severity: Severity
    state: Literal["pending", "firing"]
    since: UtcTimestamp = Field(description="When it entered this state (a reading's ts, or when a silence began)")
    value: float | None = Field(description="The reading that set the state; null for a silent rule")
    threshold: float | None = Field(description="The rule's threshold (silent rules: silent_for in seconds)")
    summary: str


class AlertList(_Answer):
    alerts: list[AlertOut] = Field(description="Every (rule, sensor) now pending or firing, by rule then sensor")


class TransitionOut(_Answer):
    id: str = Field(description="Unique per transition: a consumer de-duplicates on it")
    rule: str
    sensor_id: SensorId
    severity: Severity
    from_: State = Field(alias="from")
    to: State
    value: float | None = Field(description="The judged reading's value; null for a silent rule")
    threshold: float | None
    ts: UtcTimestamp = Field(description="The time the transition applies to (reading time, or when silence passed)")
    at: UtcTimestamp = Field(description="When it was recorded")
    summary: str


class TransitionPage(_Answer):
    transitions: list[TransitionOut] = Field(max_length=PAGE_LIMIT_MAX, description="Newest first")
    next_until: UtcTimestamp | None = Field(
        description="ts of the oldest transition returned when there are older ones: the `until` of the next page"
    )


class RuleOut(_Answer):
    name: str
    sensors: list[str] | None = Field(description="Sensor ids or shell-style globs; null: every sensor")
    severity: Severity
    quantity: str | None = None
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    for_: float | None = Field(default=None, alias="for", description="Seconds beyond the threshold before firing")
    silent_for: float | None = Field(default=None, description="Silent rules: seconds without a stored reading")
    summary: str | None


class RuleList(_Answer):
    rules: list[RuleOut] = Field(description="The rules in force (empty when alerting is off)")


_RULES = Param("rule", "Only these rules (repeat for several)", RULE_NAME, repeatable=True)

ALERT_OPERATIONS = (
    Operation(
        "GET",
        "/api/v1/alerts",
        "currentAlerts",
        "Every (rule, sensor) now pending or firing",
        security=READER,
        parameters=(
            Param("state", "Only alerts in this state", {"type": "string", "enum": ["pending", "firing"]}),
            "Sensors",
            _RULES,
        ),
        responses={200: Answer("The current alerts", AlertList), **READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/alerts/history",
        "alertHistory",
        "Alert transitions, newest first, one page at a time",
        security=READER,
        description=(
            "Transitions with since <= ts < until, newest first. When more match than `limit`, `next_until` is "
            "the ts of the oldest one returned: pass it as `until` for the next, older page. A page ends with "
            "every transition of its oldest ts, so transitions sharing a ts can make it longer than `limit`."
        ),
        parameters=(
            Param("since", "Only transitions with ts >= since", INSTANT),
            Param("until", "Only transitions with ts < until", INSTANT),
            "Sensors",
            _RULES,
            Param("limit", "At most this many transitions", integer(1, PAGE_LIMIT_MAX, PAGE_LIMIT_DEFAULT)),
        ),
        responses={200: Answer("A page of transitions", TransitionPage), **READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/alerts/rules",
        "alertRules",
        "The alert rules in force (TELERING_ALERT_RULES, reloaded on change)",
        security=READER,
        responses={200: Answer("The rules", RuleList), **READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/alerts/live",
        "alertsLive",
        "WebSocket: each alert transition as it is recorded, one JSON text message (a TransitionOut)",
        security=READER,
        description=(
            f"The server pings every {HEARTBEAT_S:.0f} s; a client that falls far behind is closed with 1013. "
            "A plain HTTP GET (no WebSocket handshake) is answered 400 `websocket_required`."
        ),
        parameters=("Sensors",),
        responses=SOCKET_RESPONSES,
    ),
)
