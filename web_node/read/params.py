"""Strict query and path parameters: anything unexpected is a 400 naming the parameter and value.

Times are RFC 3339 (with an offset), unix seconds, or epoch milliseconds as 13 digits (what
Grafana's `${__from}` sends); integers are plain decimal digits in a
documented range; unknown or repeated (where not repeatable) parameters are refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta, timezone

from multidict import MultiMapping

from protocol.durations import DurationError, parse_duration
from protocol.readings import SENSOR_ID_PATTERN
from web_node.errors import ApiError

# Unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: what a datetime can hold.
MIN_UNIX_S = -62_135_596_800
MAX_UNIX_S = 253_402_300_799

_INTEGER = re.compile(r"[0-9]{1,18}")
# 13 digits are past the last unix second a datetime holds, so they can only mean milliseconds
_EPOCH_MS = re.compile(r"[0-9]{13}")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)
_SENSOR_ID = re.compile(SENSOR_ID_PATTERN)


def invalid(name: str, value: object, why: str) -> ApiError:
    """The 400 answer for a bad parameter: `{"error": "invalid_parameter", "parameter", "value"}`."""
    return ApiError(400, "invalid_parameter", f"{name}: {why}, got {value!r}", parameter=name, value=value)


def check_names(query: MultiMapping[str], allowed: Collection[str], repeatable: Collection[str] = ()) -> None:
    """Refuse parameters the route does not know, and repeats of those that take one value."""
    for name in query:
        if name not in allowed:
            raise invalid(
                name, query[name], f"unknown parameter (this route takes: {', '.join(sorted(allowed)) or 'none'})"
            )
        if name not in repeatable and len(query.getall(name)) > 1:
            raise invalid(name, query.getall(name), "may be given once")


def integer(query: MultiMapping[str], name: str, *, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise invalid(name, raw, f"must be an integer {low}..{high}")
    return int(raw)


def duration(query: MultiMapping[str], name: str, *, default: int, low: int, high: int) -> int:
    """A whole number of seconds written as a duration (`300`, `300s`, `5m`, `1h`, `1d`)."""
    raw = query.get(name)
    if raw is None:
        return default
    why = f"must be a duration of whole seconds {low}..{high} (300, 300s, 5m, 1h, 1d)"
    try:
        seconds = parse_duration(raw)
    except DurationError:
        raise invalid(name, raw, why) from None
    if seconds != int(seconds) or not low <= seconds <= high:
        raise invalid(name, raw, why)
    return int(seconds)


def instant(query: MultiMapping[str], name: str) -> float | None:
    """An RFC 3339 timestamp, unix seconds or epoch milliseconds, as unix seconds; None if absent."""
    raw = query.get(name)
    if raw is None:
        return None
    value = parse_instant(raw)
    if value is None:
        hint = " (a + in a URL must be sent as %2B)" if parse_instant(_plus_for_last_space(raw)) is not None else ""
        raise invalid(
            name,
            raw,
            "must be an RFC 3339 timestamp with an offset (2026-11-24T14:00:00Z), "
            f"unix seconds {MIN_UNIX_S}..{MAX_UNIX_S} or epoch milliseconds (13 digits){hint}",
        )
    return value


def parse_instant(raw: str) -> float | None:
    """Unix seconds from RFC 3339, epoch-millisecond or numeric text, or None if it is none of
    them (or out of range)."""
    if _EPOCH_MS.fullmatch(raw):
        return int(raw) / 1000
    if _NUMBER.fullmatch(raw):
        value = float(raw)
        return value if math.isfinite(value) and MIN_UNIX_S <= value <= MAX_UNIX_S else None
    match = _RFC3339.fullmatch(raw)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7) or "", match.group(8).upper()
    leap = second == 60  # 23:59:60 is valid RFC 3339: the second after 23:59:59
    try:
        ts = datetime(
            year, month, day, hour, minute, second - leap, int((fraction[1:] + "000000")[:6] or 0), tzinfo=_zone(offset)
        )
    except ValueError:
        return None
    value = ts.timestamp() + leap
    return value if MIN_UNIX_S <= value <= MAX_UNIX_S else None


def sensors(query: MultiMapping[str], name: str = "sensor") -> list[str]:
    """A repeatable sensor-id filter, in the order given, without repeats."""
    ids = query.getall(name, [])
    for sensor_id in ids:
        sensor_id_value(name, sensor_id)
    return list(dict.fromkeys(ids))


def sensor_id_value(name: str, value: str) -> str:
    if not _SENSOR_ID.fullmatch(value):
        raise invalid(name, value, "must be a sensor id: 1..64 of A-Z a-z 0-9 _ . -")
    return value


def _plus_for_last_space(raw: str) -> str:
    head, space, tail = raw.rpartition(" ")
    return f"{head}+{tail}" if space else raw


def _zone(offset: str) -> timezone:
    if offset == "Z":
        return UTC
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad offset {offset}")
    sign = -1 if offset[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
