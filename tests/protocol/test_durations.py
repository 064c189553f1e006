"""Durations (protocol/durations.py): what people write, as seconds; anything else is refused by name."""

from __future__ import annotations

import pytest

from protocol.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300", 300.0),
        ("300s", 300.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("30m", 1800.0),
        ("1h", 3600.0),
        ("36h", 129_600.0),
        ("1d", 86_400.0),
        ("7d", 604_800.0),
        ("400d", 34_560_000.0),
        ("2.5", 2.5),
        ("1.5h", 5400.0),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0", "0s", "0.0d", "-5m", "+5m", "5x", "5 m", " 5m", "5m ", "m", "1e3", "5mm", "1h30m", "inf", "5M"]
)
def test_not_durations_are_refused_naming_the_text(text):
    with pytest.raises(DurationError) as refused:
        parse_duration(text)
    assert repr(text) in str(refused.value)


def test_format_is_the_largest_whole_unit():
    assert [format_duration(s) for s in (604_800, 129_600, 300, 90, 2.5)] == ["7d", "36h", "5m", "90s", "2.5s"]
    assert all(parse_duration(format_duration(s)) == s for s in (604_800, 129_600, 300, 90, 2.5))
