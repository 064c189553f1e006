"""Kafka topic names, in one place."""

from __future__ import annotations

from dataclasses import dataclass

READINGS = "readings"
TOKEN = "telering-token"
DLQ = "readings-dlq"


@dataclass(frozen=True)
class Topics:
    """The three topics of one telering deployment (a prefix lets tests share a broker)."""

    readings: str = READINGS
    token: str = TOKEN
    dlq: str = DLQ

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        return cls(readings=prefix + READINGS, token=prefix + TOKEN, dlq=prefix + DLQ)
