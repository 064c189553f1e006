"""The web node's alerting JSON (`/api/v1/alerts*`, docs/API.md) validated into frozen records.

Fields the client does not know are ignored, so a newer web node may add some; times become
unix seconds, durations seconds (a number, or text as `protocol.durations` reads it).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from desktop_client.records import WireError, parse_time, validated
from protocol.durations import DurationError, parse_duration
from protocol.quantities import QUANTITIES
from protocol.readings import SensorId, describe_errors

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
State = Literal["ok", "pending", "firing"]
Quantity = Literal[QUANTITIES]  # type: ignore[valid-type]  # the four, declared once


def _seconds(value: object) -> object:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except DurationError as exc:
            raise ValueError(str(exc)) from exc
    return value


def _unix(value: object) -> float:
    return parse_time(value)  # a WireError is a ValueError: pydantic reports it with the field's name


Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0, allow_inf_nan=False)]
UnixTime = Annotated[float, BeforeValidator(_unix)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
RuleName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class AlertRule(_Record):
    """A rule in force: a threshold on one quantity (`above` or `below`, `clear`) or a silence."""

    name: RuleName
    sensors: tuple[str, ...] | None = None  # ids or shell-style globs; None: every sensor
    severity: Severity
    quantity: Quantity | None = None
    above: Finite | None = None
    below: Finite | None = None
    clear: Finite | None = None
    for_s: Seconds | None = Field(default=None, alias="for")
    silent_for: Seconds | None = None
    summary: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AlertRule:
        if self.silent_for is None and (self.quantity is None or (self.above is None) == (self.below is None)):
            raise ValueError("a rule needs `silent_for`, or a `quantity` with exactly one of `above` and `below`")
        return self

    @property
    def threshold(self) -> float | None:
        """The limit a threshold rule fires beyond (None for a silent rule)."""
        return self.above if self.above is not None else self.below

    @property
    def clears_at(self) -> float | None:
        """Where a firing alert resolves: `clear`, else the threshold itself."""
        return self.clear if self.clear is not None else self.threshold

    def covers(self, sensor_id: str) -> bool:
        return self.sensors is None or any(fnmatch.fnmatchcase(sensor_id, p) for p in self.sensors)


class Alert(_Record):
    """A (rule, sensor) that is pending or firing now."""

    rule: RuleName
    sensor_id: SensorId
    severity: Severity
    state: Literal["pending", "firing"]
    since: UnixTime
    value: Finite | None = None
    threshold: Finite | None = None
    summary: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.sensor_id


class Transition(_Record):
    """One recorded change of a (rule, sensor)'s state; `ts` is the time it applies to."""

    id: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
    rule: RuleName
    sensor_id: SensorId
    severity: Severity
    from_state: State = Field(alias="from")
    to_state: State = Field(alias="to")
    value: Finite | None = None
    threshold: Finite | None = None
    ts: UnixTime
    at: UnixTime | None = None
    summary: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.sensor_id

    def as_alert(self) -> Alert | None:
        """What the (rule, sensor) is after this transition: an alert, or None once it is `ok`."""
        if self.to_state == "ok":
            return None
        same = self.model_dump(include={"rule", "sensor_id", "severity", "value", "threshold", "summary"})
        return Alert(state=self.to_state, since=self.ts, **same)


class _Rules(BaseModel):
    rules: list[dict[str, Any]]


class _Alerts(BaseModel):
    alerts: list[Alert]


class _History(BaseModel):
    transitions: list[Transition]
    next_until: UnixTime | None = None


@dataclass(frozen=True)
class AlertSnapshot:
    """What the web node said about alerts for one window request; `enabled` False: it serves none."""

    generation: int
    enabled: bool
    rules: list[AlertRule] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)  # in the window, oldest first


def parse_rules(body: Mapping[str, Any]) -> list[AlertRule]:
    """GET /api/v1/alerts/rules; a rule the client cannot read (a kind added later) is left out, logged."""
    rules = []
    for raw in validated(_Rules, body, "/alerts/rules").rules:
        try:
            rules.append(AlertRule.model_validate(raw))
        except ValidationError as exc:
            log.warning("not drawing rule %r: %s", raw.get("name"), describe_errors(exc.errors(include_url=False)))
    return rules


def parse_alerts(body: Mapping[str, Any]) -> list[Alert]:
    """GET /api/v1/alerts."""
    return validated(_Alerts, body, "/alerts").alerts


def parse_history(body: Mapping[str, Any]) -> tuple[list[Transition], float | None]:
    """A page of GET /api/v1/alerts/history (newest first) and its `next_until` (None: the last page)."""
    page = validated(_History, body, "/alerts/history")
    return page.transitions, page.next_until


def parse_transition(raw: Mapping[str, Any] | str | bytes) -> Transition:
    """A message of the /api/v1/alerts/live socket (a JSON object, or its text)."""
    try:
        if isinstance(raw, (str, bytes)):
            return Transition.model_validate_json(raw)
        return Transition.model_validate(raw)
    except ValidationError as exc:
        raise WireError(f"bad transition {raw!r:.200}: {describe_errors(exc.errors(include_url=False))}") from exc
