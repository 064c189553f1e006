"""Dead-letter routing: an invalid message goes to `readings-dlq` with its bytes and a reason."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_core import SchemaValidator, ValidationError

from protocol.readings import InvalidReading, parse_reading, reading_fields_schema

REASON_HEADER = "telering-dlq-reason"
SOURCE_HEADER = "telering-dlq-source"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str


_fields = reading_fields_schema()
_FIELDS = SchemaValidator(*_fields) if _fields is not None else None


def is_valid(raw: bytes | None) -> bool:
    """Whether `raw` is a valid reading: the receivers' hot path (see `check` for the reason)."""
    if raw is None:
        return False
    if _FIELDS is None:
        return check(raw) is None
    try:
        _FIELDS.validate_json(raw)
    except ValidationError:
        return False
    return True


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
