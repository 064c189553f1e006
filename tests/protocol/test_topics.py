"""Topic names and the per-deployment prefix."""

from __future__ import annotations

from protocol.topics import Topics


def test_default_names() -> None:
    assert Topics() == Topics(readings="readings", token="telering-token", dlq="readings-dlq", alerts="telering-alerts")


def test_prefix_applies_to_all_four() -> None:
    assert Topics.with_prefix("t-42.") == Topics(
        "t-42.readings", "t-42.telering-token", "t-42.readings-dlq", "t-42.telering-alerts"
    )
    assert Topics.with_prefix("") == Topics()
