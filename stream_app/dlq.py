"""Dead-letter routing: an invalid message goes to `readings-dlq` with its bytes and a reason.

What a producer may write to `readings` is bounded by the broker (1 MiB by default), but Faust's
producer refuses anything over 1,000,000 bytes, and the dead letter carries headers too. So a
value (or key) too big to dead-letter whole is truncated, with headers giving its original size
and SHA-256: every message is dead-lettered, none can crash the worker or stall its partition.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import faust
from pydantic_core import ValidationError

from protocol.readings import InvalidReading, parse_reading, reading_validator

REASON_HEADER = "telering-dlq-reason"
SOURCE_HEADER = "telering-dlq-source"
ORIGINAL_SIZE_HEADER = "telering-dlq-original-size"
SHA256_HEADER = "telering-dlq-sha256"
TRUNCATED_HEADER = "telering-dlq-truncated"
MAX_VALUE_BYTES = 900_000  # well below Faust's 1,000,000-byte producer limit, headers included
MAX_KEY_BYTES = 1024
MAX_REASON_BYTES = 1000


def is_valid(raw: bytes | None) -> bool:
    """Whether `raw` is a valid reading: the receivers' hot path (see `reason` for why not)."""
    if raw is None:
        return False
    try:
        reading_validator().validate_json(raw)
    except ValidationError:
        return False
    return True


def reason(raw: bytes | None) -> str | None:
    """None when `raw` is a valid reading, else why it is not (one line)."""
    if raw is None:
        return "empty message"
    try:
        parse_reading(raw)
    except InvalidReading as exc:
        return exc.reason
    return None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message to dead-letter: where it came from, its bytes, and why (`kind` labels metrics)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    kind: str  # "invalid" (our validation) or "refused" (the web node's)


def headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    found = [
        (REASON_HEADER, letter.reason.encode()[:MAX_REASON_BYTES]),
        (SOURCE_HEADER, f"{letter.topic}/{letter.partition}/{letter.offset}".encode()),
    ]
    value = letter.value or b""
    if len(value) > MAX_VALUE_BYTES or len(letter.key or b"") > MAX_KEY_BYTES:
        found += [
            (TRUNCATED_HEADER, b"true"),
            (ORIGINAL_SIZE_HEADER, str(len(value)).encode()),
            (SHA256_HEADER, hashlib.sha256(value).hexdigest().encode()),
        ]
    return found


class DeadLetters:
    """Sends dead letters through the Faust producer and waits until Kafka has them: a message
    counts as handled (its offset may be committed) only once it is in the dead-letter topic."""

    def __init__(self, topic: faust.TopicT) -> None:
        self._topic = topic
        self.sent: Counter[str] = Counter()  # by kind

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        futures = []
        for letter in letters:
            key = letter.key[:MAX_KEY_BYTES] if letter.key is not None else None
            value = (letter.value or b"")[:MAX_VALUE_BYTES]
            futures.append(await self._topic.send(key=key, value=value, headers=headers(letter)))
        await asyncio.gather(*futures)
        self.sent.update(letter.kind for letter in letters)
