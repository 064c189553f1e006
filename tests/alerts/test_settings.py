"""The alerting settings: their env names, defaults, and durations for the Alertmanager interval."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from protocol.settings import Settings


def test_defaults_leave_alerting_off():
    s = Settings(_env_file=None, TELERING_ALERT_RULES="", TELERING_ALERTMANAGER_URL="")
    assert (s.telering_alert_rules, s.telering_alertmanager_url) == (None, None)
    assert s.telering_alerts_kafka is True and s.telering_alertmanager_interval == 60.0


def test_env_names_and_durations():
    s = Settings(
        TELERING_ALERT_RULES="/etc/telering/alerts.yaml",
        TELERING_ALERTMANAGER_URL="http://a:9093,http://b:9093",
        TELERING_ALERTMANAGER_INTERVAL="2m",
        TELERING_ALERTS_KAFKA="false",
    )
    assert s.telering_alert_rules == Path("/etc/telering/alerts.yaml")
    assert s.telering_alertmanager_url == "http://a:9093,http://b:9093"
    assert s.telering_alertmanager_interval == 120.0 and s.telering_alerts_kafka is False


def test_a_bad_interval_names_the_variable():
    with pytest.raises(ValidationError, match="TELERING_ALERTMANAGER_INTERVAL"):
        Settings(TELERING_ALERTMANAGER_INTERVAL="soon")
