"""Dead-letter routing: an invalid message goes to `readings-dlq` with its bytes and a reason."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.readings import InvalidReading, parse_reading

REASON_HEADER = "telering-dlq-reason"
SOURCE_HEADER = "telering-dlq-source"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str


def check(raw: bytes | None) -> DeadLetter | None:
    """None when `raw` is a valid reading, else why it is not."""
    if raw is None:
        return DeadLetter("empty message")
    try:
        parse_reading(raw)
    except InvalidReading as exc:
        return DeadLetter(exc.reason)
    return None


def headers(reason: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [(REASON_HEADER, reason.encode()[:1000]), (SOURCE_HEADER, f"{topic}/{partition}/{offset}".encode())]
