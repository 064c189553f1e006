"""Durations as people write them: `300` or `300s` (seconds), `5m`, `36h`, `7d`.

One parser for every part (the `bucket` of /api/v1/stats, the retention settings), so the same
text means the same span everywhere. Imports nothing heavy.
"""

from __future__ import annotations

import math
import re

UNITS_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd]?)", re.ASCII)
FORMAT = "a positive number of seconds, or a number with a unit s, m, h or d (300, 300s, 5m, 36h, 7d)"
PATTERN = r"^[0-9]+(\.[0-9]+)?[smhd]?$"  # the same grammar, for JSON Schema


class DurationError(ValueError):
    """Text that is not a positive duration; the message names the text."""


def parse_duration(text: str) -> float:
    """The duration `text` stands for, in seconds (a plain number is seconds)."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise DurationError(f"{text!r} is not a duration: expected {FORMAT}")
    seconds = float(match.group(1)) * UNITS_S[match.group(2)]
    if not math.isfinite(seconds) or seconds <= 0:
        raise DurationError(f"{text!r} is not a duration: it must be more than 0 seconds")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact text for `seconds` in the largest whole unit (`604800` -> `7d`)."""
    for unit in ("d", "h", "m"):
        count = seconds / UNITS_S[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{seconds:g}s"
