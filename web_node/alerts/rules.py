"""The rules file (`TELERING_ALERT_RULES`): YAML parsed into an immutable `RuleSet`.

Every error names the file, the line (from PyYAML's node marks) and the reason, so a bad edit
is found at once; nothing half-parsed is ever used.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from protocol.durations import DurationError, parse_duration
from protocol.quantities import QUANTITY

NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SEVERITIES = ("info", "warning", "critical")
THRESHOLD_KEYS = {"name", "sensors", "severity", "quantity", "above", "below", "clear", "for", "summary"}
SILENT_KEYS = {"name", "sensors", "severity", "silent_for", "summary"}
DEFAULT_SUMMARY = "{rule}: {sensor_id} at {value} (threshold {threshold})"
DEFAULT_SILENT_SUMMARY = "{rule}: {sensor_id} sent nothing for {threshold} s"
_PLACEHOLDERS = {"rule": "", "sensor_id": "", "value": 0.0, "threshold": 0.0}


class RulesError(ValueError):
    """A rules file that does not parse or validate: `path`, `line` (1-based or None), `reason`."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path, self.line, self.reason = str(path), line, reason


@dataclass(frozen=True)
class Rule:
    """One rule. Threshold rules: `quantity`, `above` (True: strictly above `threshold`),
    `clear`, `for_s`. Silent rules: `silent_for` (seconds, wall clock)."""

    name: str
    severity: str
    sensors: tuple[str, ...] | None = None  # None: every sensor
    quantity: str | None = None
    above: bool = True
    threshold: float | None = None
    clear: float | None = None
    for_s: float = 0.0
    silent_for: float | None = None
    summary: str | None = None

    @property
    def silent(self) -> bool:
        return self.silent_for is not None

    def covers(self, sensor_id: str) -> bool:
        return self.sensors is None or any(fnmatch.fnmatchcase(sensor_id, p) for p in self.sensors)

    def summarise(self, sensor_id: str, value: float | None) -> str:
        template = self.summary or (DEFAULT_SILENT_SUMMARY if self.silent else DEFAULT_SUMMARY)
        threshold = self.silent_for if self.silent else self.threshold
        return template.format(rule=self.name, sensor_id=sensor_id, value=value, threshold=threshold)

    def as_json(self) -> dict[str, Any]:
        """What `GET /api/v1/alerts/rules` shows (and a dashboard draws)."""
        out: dict[str, Any] = {"name": self.name, "sensors": list(self.sensors) if self.sensors else None}
        out["severity"] = self.severity
        if self.silent:
            return {**out, "silent_for": self.silent_for, "summary": self.summary}
        return {
            **out,
            "quantity": self.quantity,
            "above": self.threshold if self.above else None,
            "below": None if self.above else self.threshold,
            "clear": self.clear,
            "for": self.for_s,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class RuleSet:
    """The rules in force; which threshold rules apply to a sensor is worked out once per sensor."""

    rules: tuple[Rule, ...] = ()
    _by_sensor: dict[str, tuple[Rule, ...]] = field(default_factory=dict, compare=False, repr=False)
    _silent_by_sensor: dict[str, tuple[Rule, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.rules)

    def by_name(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def threshold_rules(self, sensor_id: str) -> tuple[Rule, ...]:
        found = self._by_sensor.get(sensor_id)
        if found is None:
            found = self._by_sensor[sensor_id] = tuple(r for r in self.rules if not r.silent and r.covers(sensor_id))
        return found

    def silent_rules(self, sensor_id: str) -> tuple[Rule, ...]:
        found = self._silent_by_sensor.get(sensor_id)
        if found is None:
            found = self._silent_by_sensor[sensor_id] = tuple(r for r in self.rules if r.silent and r.covers(sensor_id))
        return found

    @property
    def has_silent(self) -> bool:
        return any(r.silent for r in self.rules)


class _Marked(dict):
    """A YAML mapping that remembers its own line and each value's line."""

    line: int = 0
    lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> _Marked:
    loader.flatten_mapping(node)
    out = _Marked()
    out.line, out.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = value_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate the rules file; RulesError names the file, line and reason."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(str(path), None, f"cannot read the rules file: {exc}") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, path: str = "<rules>") -> RuleSet:
    try:
        document = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RulesError(path, mark.line + 1 if mark else None, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise RulesError(path, None, f"not valid YAML: {exc}") from None
    if not isinstance(document, _Marked) or set(document) != {"rules"}:
        raise RulesError(path, getattr(document, "line", 1), "the file must be a mapping with one key, `rules`")
    items = document["rules"]
    if not isinstance(items, list):
        raise RulesError(path, document.lines["rules"], "`rules` must be a list of rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for item in items:
        rule = _rule(item, path, document.lines["rules"])
        if rule.name in seen:
            raise RulesError(path, item.line, f"rule name {rule.name!r} is used twice")
        seen.add(rule.name)
        rules.append(rule)
    return RuleSet(tuple(rules))


def _rule(item: object, path: str, list_line: int) -> Rule:
    if not isinstance(item, _Marked):
        raise RulesError(path, list_line, "each rule must be a mapping")

    def fail(key: str | None, reason: str) -> RulesError:
        return RulesError(path, item.lines.get(key, item.line), reason)

    silent = "silent_for" in item
    allowed = SILENT_KEYS if silent else THRESHOLD_KEYS
    for key in item:
        if key not in allowed:
            kind = "a silent rule" if silent else "a threshold rule"
            raise fail(key, f"unknown field {key!r} in {kind} (allowed: {', '.join(sorted(allowed))})")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise fail("name", f"name {name!r} must be 1 to 64 of A-Z a-z 0-9 _ . -")
    severity = item.get("severity")
    if severity not in SEVERITIES:
        raise fail("severity", f"severity {severity!r} must be one of {', '.join(SEVERITIES)}")
    sensors = item.get("sensors")
    if sensors is not None:
        if not isinstance(sensors, list) or not sensors or not all(isinstance(s, str) and s for s in sensors):
            raise fail("sensors", "sensors must be a non-empty list of sensor ids or globs")
        sensors = tuple(sensors)
    summary = item.get("summary")
    if summary is not None:
        if not isinstance(summary, str):
            raise fail("summary", "summary must be a string")
        try:
            summary.format(**_PLACEHOLDERS)
        except (KeyError, IndexError, ValueError) as exc:
            raise fail(
                "summary", f"summary {summary!r}: only {{rule}} {{sensor_id}} {{value}} {{threshold}}: {exc}"
            ) from None
    if silent:
        return Rule(name, severity, sensors, silent_for=_duration(item, "silent_for", fail), summary=summary)
    quantity = item.get("quantity")
    if quantity not in QUANTITY:
        raise fail("quantity", f"quantity {quantity!r} must be one of {', '.join(QUANTITY)}")
    if ("above" in item) == ("below" in item):
        raise fail(None, "a threshold rule needs exactly one of `above` and `below` (or `silent_for`)")
    side = "above" if "above" in item else "below"
    threshold = _number(item, side, fail)
    clear = _number(item, "clear", fail) if "clear" in item else threshold
    if (side == "above" and clear > threshold) or (side == "below" and clear < threshold):
        relation = "at most" if side == "above" else "at least"
        raise fail("clear", f"clear {clear} must be {relation} the threshold {threshold} of `{side}`")
    for_s = _duration(item, "for", fail, zero=True) if "for" in item else 0.0
    return Rule(name, severity, sensors, quantity, side == "above", threshold, clear, for_s, summary=summary)


def _number(item: _Marked, key: str, fail) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(key, f"{key} must be a finite number, not {value!r}")
    return float(value)


def _duration(item: _Marked, key: str, fail, *, zero: bool = False) -> float:
    value = item.get(key)
    if zero and value in (0, "0", "0s"):
        return 0.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise fail(key, f"{key}: {exc}") from None
