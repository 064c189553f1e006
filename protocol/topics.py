"""Kafka topic names, in one place."""

from __future__ import annotations

from dataclasses import dataclass

READINGS = "readings"
TOKEN = "telering-token"
DLQ = "readings-dlq"
ALERTS = "telering-alerts"


@dataclass(frozen=True)
class Topics:
    """The topics of one telering deployment (a prefix lets tests share a broker)."""

    readings: str = READINGS
    token: str = TOKEN
    dlq: str = DLQ
    alerts: str = ALERTS  # alert transitions, published by the web node (web_node/alerts)

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        return cls(readings=prefix + READINGS, token=prefix + TOKEN, dlq=prefix + DLQ, alerts=prefix + ALERTS)
