"""The pure rule engine: states + a batch's new readings -> new states and transitions.

No I/O here: the backends' glue (`sqlite_store`, `pg_store`) loads the states of the sensors a
batch touches, calls `judge`, and writes what it returns in the batch's own transaction. The
state machine is the issue's, exactly:

- threshold rule: ok -> pending at the first reading beyond the threshold (straight to firing
  when `for` is 0); pending -> firing at a reading still beyond whose ts >= first + for;
  pending -> ok at any reading not beyond; firing -> ok only at a reading past `clear`.
- silent rule: firing -> ok at the sensor's next stored reading (ok -> firing is the timer's).
- per sensor in ts order; a reading not newer than the newest judged one changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.readings import rfc3339
from web_node.alerts.rules import Rule, RuleSet

OK, PENDING, FIRING = "ok", "pending", "firing"
STATES = (OK, PENDING, FIRING)


@dataclass(slots=True)
class AlertState:
    """One (rule, sensor)'s state: `since` when it entered it, `pending_since` the first
    reading beyond (pending only), `value`/`threshold` of the transition that set it."""

    rule: str
    sensor_id: str
    state: str = OK
    since: float = 0.0
    pending_since: float | None = None
    value: float | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    id: str
    rule: str
    sensor_id: str
    severity: str
    from_state: str
    to_state: str
    value: float | None
    threshold: float | None
    ts: float
    at: float
    summary: str

    def as_json(self) -> dict[str, Any]:
        """The transition as the issue's JSON object (Kafka, REST, WebSocket)."""
        return {
            "id": self.id,
            "rule": self.rule,
            "sensor_id": self.sensor_id,
            "severity": self.severity,
            "from": self.from_state,
            "to": self.to_state,
            "value": self.value,
            "threshold": self.threshold,
            "ts": rfc3339(self.ts),
            "at": rfc3339(self.at),
            "summary": self.summary,
        }


@dataclass
class Judgement:
    """What one batch changes: the states to write, the transitions to record, and per sensor
    the newest judged ts (every sensor of the batch: its stored_at is `now`)."""

    states: list[AlertState] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    sensors: dict[str, float] = field(default_factory=dict)


# per sensor: its new readings as (ts, seq, row), sorted by ts then seq
Grouped = dict[str, list[tuple[float, int, Mapping[str, Any]]]]


def group(rows: Iterable[Mapping[str, Any]]) -> Grouped:
    """A batch's newly stored readings per sensor, in (ts, seq) order."""
    by_sensor: Grouped = {}
    for row in rows:
        ts = row["ts"]
        entry = (ts if isinstance(ts, float) else ts.timestamp(), row["seq"], row)
        found = by_sensor.get(row["sensor_id"])
        if found is None:
            by_sensor[row["sensor_id"]] = [entry]
        else:
            found.append(entry)
    for entries in by_sensor.values():
        if len(entries) > 1:
            entries.sort()  # (ts, seq) is unique per sensor among new rows: the rows are never compared
    return by_sensor


def transition(rule: Rule, sensor_id: str, before: str, after: str, value, ts: float, now: float) -> Transition:
    threshold = rule.silent_for if rule.silent else rule.threshold
    return Transition(
        uuid.uuid4().hex,
        rule.name,
        sensor_id,
        rule.severity,
        before,
        after,
        value,
        threshold,
        ts,
        now,
        rule.summarise(sensor_id, value),
    )


def judge(
    ruleset: RuleSet,
    grouped: Grouped,
    states: Mapping[tuple[str, str], AlertState],
    last_ts: Mapping[str, float],
    now: float,
) -> Judgement:
    """Judge each sensor's new readings against the rules that cover it."""
    out = Judgement()
    for sensor_id, entries in grouped.items():
        newest = last_ts.get(sensor_id)
        tss, judged, newest = _newer(entries, newest)
        out.sensors[sensor_id] = newest if newest is not None else entries[-1][0]
        for rule in ruleset.silent_rules(sensor_id):
            state = states.get((rule.name, sensor_id))
            if state is not None and state.state == FIRING:  # the silence is over at its next reading
                ts = entries[-1][0]
                out.transitions.append(transition(rule, sensor_id, FIRING, OK, None, ts, now))
                state.state, state.since, state.value = OK, ts, None
                out.states.append(state)
        if not tss:
            continue
        columns: dict[str, list[float]] = {}
        for rule in ruleset.threshold_rules(sensor_id):
            values = columns.get(rule.quantity)  # type: ignore[arg-type]
            if values is None:
                values = columns[rule.quantity] = [row[rule.quantity] for row in judged]  # type: ignore[index]
            key = (rule.name, sensor_id)
            state = states.get(key) or AlertState(rule.name, sensor_id)
            if _step(rule, state, tss, values, out.transitions, now):
                out.states.append(state)
    return out


def _newer(entries, newest: float | None) -> tuple[list[float], list, float | None]:
    """The entries strictly newer than `newest` and than each other (sorted input), as (ts list,
    rows), and the newest ts after them."""
    if newest is None or entries[0][0] > newest:
        tss = [e[0] for e in entries]  # the usual case: all new, told apart by ts
        if len(set(tss)) == len(tss):
            return tss, [e[2] for e in entries], tss[-1]
    tss, judged = [], []
    for ts, _seq, row in entries:
        if newest is None or ts > newest:
            tss.append(ts)
            judged.append(row)
            newest = ts
    return tss, judged, newest


def _step(rule: Rule, st: AlertState, tss: list[float], values: list[float], out: list[Transition], now: float) -> bool:
    """Run one (rule, sensor) over its new values; True if its state changed."""
    threshold, clear, above = rule.threshold, rule.clear, rule.above
    state = st.state
    # the common cases, decided without a Python loop: nothing beyond while ok, nothing past clear while firing
    if state == OK and (max(values) <= threshold if above else min(values) >= threshold):
        return False
    if state == FIRING and (min(values) > clear if above else max(values) < clear):
        return False
    for_s, changed = rule.for_s, False
    pending_since = st.pending_since
    for i, value in enumerate(values):
        if state == OK:
            if value > threshold if above else value < threshold:
                after = FIRING if for_s == 0 else PENDING
                pending_since = tss[i] if after == PENDING else None
                out.append(transition(rule, st.sensor_id, OK, after, value, tss[i], now))
                state, st.since, st.value = after, tss[i], value
                changed = True
        elif state == PENDING:
            if not (value > threshold if above else value < threshold):
                out.append(transition(rule, st.sensor_id, PENDING, OK, value, tss[i], now))
                state, st.since, st.value, pending_since = OK, tss[i], value, None
                changed = True
            elif tss[i] - pending_since >= for_s:  # type: ignore[operator]
                out.append(transition(rule, st.sensor_id, PENDING, FIRING, value, tss[i], now))
                state, st.since, st.value, pending_since = FIRING, tss[i], value, None
                changed = True
        elif value <= clear if above else value >= clear:  # firing, and past clear
            out.append(transition(rule, st.sensor_id, FIRING, OK, value, tss[i], now))
            state, st.since, st.value = OK, tss[i], value
            changed = True
    st.state, st.pending_since, st.threshold = state, pending_since, threshold
    return changed


def silent_due(rule: Rule, stored_at: float, now: float) -> bool:
    """Whether a sensor last stored at `stored_at` has been silent for the rule's `silent_for`."""
    return stored_at + rule.silent_for <= now  # type: ignore[operator]
