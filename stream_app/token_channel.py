"""The token topic as every worker sees it: read whole (no consumer group), written with acks=all.

Grants and releases must reach every worker, so the single-partition token topic is read by
an assigned (group-less) consumer in each process. Every value is signed on the way out and
checked on the way in (protocol/token_messages.py): a message that is not valid, not signed with a
key of ours, not of this deployment, or not its sender's newest (stream_app/freshness.py: a copy of
an old message written again) is skipped and counted by reason, never acted on and never fatal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from protocol.kafka_security import aiokafka_options
from protocol.keyring import Keyring
from protocol.settings import Settings
from protocol.token_messages import (
    MAX_MESSAGE_BYTES,
    SIGNATURE_HEADER,
    TokenMessage,
    TokenMessageInvalid,
    decode,
    encode,
    signature_of,
)
from stream_app.freshness import Freshness, Outgoing

log = logging.getLogger(__name__)

# every reason a token-topic message is skipped for (protocol/token_messages.py, stream_app/freshness.py)
SKIP_REASONS = (
    "unsigned",
    "bad_signature",
    "malformed",
    "too_large",
    "unbound",
    "other_deployment",
    "replayed",
    "stale",
)
HISTORY = 1000  # messages re-read at start: enough to see the highest epoch granted lately
SKIP_LOG_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class TokenRecord:
    offset: int
    seen_at: float  # when this worker saw it: now for live messages, the broker's time for history
    message: TokenMessage


class TokenChannel:
    def __init__(self, settings: Settings, topic: str, keyring: Keyring, *, client_id: str) -> None:
        self._settings = settings
        self._tp = TopicPartition(topic, 0)
        self._keyring = keyring
        self._client_id = client_id
        self._outgoing = Outgoing(settings.telering_app_id, client_id)
        self._send_lock = asyncio.Lock()  # stamped in the order the producer takes them: seq follows the topic
        self._freshness = Freshness(settings.telering_app_id)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.caught_up = asyncio.Event()
        self._catch_up_offset = 0
        self.skipped: Counter[str] = Counter()  # by reason
        self._skip_logged: dict[str, float] = {}
        self.last_record_at = 0.0  # time.monotonic() of the latest record read: the loop is alive
        self._position = 0  # the offset after the latest record handed on (or skipped)
        self._advanced = asyncio.Event()

    async def start(self) -> None:
        """Connect, then rewind a little so the highest epoch ever granted is seen before granting."""
        options = aiokafka_options(self._settings)
        self._producer = AIOKafkaProducer(
            **options, client_id=self._client_id, acks="all", linger_ms=0, enable_idempotence=True
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            **options, client_id=self._client_id, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
        )
        await self._consumer.start()
        self._consumer.assign([self._tp])
        end = (await self._consumer.end_offsets([self._tp]))[self._tp]
        self._catch_up_offset = end
        self._consumer.seek(self._tp, max(0, end - HISTORY))
        if end == 0:
            self.caught_up.set()

    async def stop(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def enqueue(self, message: TokenMessage) -> asyncio.Future:
        """Queue `message` for the topic (in call order) and return the future of its delivery."""
        assert self._producer is not None, "start() the channel first"
        async with self._send_lock:
            value = encode(self._outgoing.stamp(message))
            headers = [(SIGNATURE_HEADER, self._keyring.sign_message(value))]
            return await self._producer.send(self._tp.topic, value, partition=0, headers=headers)

    async def publish(self, message: TokenMessage, *, attempts: int = 3) -> bool:
        """Write `message` and wait until Kafka has it; False (logged) if Kafka would not take it."""
        for attempt in range(1, attempts + 1):
            try:
                await (await self.enqueue(message))
                return True
            except KafkaError as exc:
                log.warning(
                    "token topic: could not publish a %s (attempt %d/%d): %s", message.type, attempt, attempts, exc
                )
        return False

    async def records(self) -> AsyncIterator[TokenRecord]:
        """The topic's valid, authenticated messages, in order; the others are skipped and counted."""
        assert self._consumer is not None, "start() the channel first"
        async for record in self._consumer:
            self.last_record_at = time.monotonic()
            seen_at = time.time() if self.caught_up.is_set() else record.timestamp / 1000
            if record.offset + 1 >= self._catch_up_offset:
                self.caught_up.set()
            try:
                message = self._check(record.value, signature_of(record.headers), seen_at)
            except TokenMessageInvalid as exc:
                self._skip(exc.reason, record.offset, str(exc))
                self._advance(record.offset)
                continue
            self._advance(record.offset)  # the reader handles what is yielded before it awaits again
            yield TokenRecord(record.offset, seen_at, message)

    async def catch_up(self, timeout: float = 10.0) -> None:
        """Wait until every message on the topic now has been read (and handled), or `timeout`."""
        assert self._consumer is not None, "start() the channel first"
        deadline = time.monotonic() + timeout
        try:
            end = (await asyncio.wait_for(self._consumer.end_offsets([self._tp]), timeout))[self._tp]
        except (KafkaError, TimeoutError) as exc:  # Kafka away: grant on what was read (the fence still holds)
            log.warning("token topic: could not read its end to catch up: %r", exc)
            return
        while self._position < end and (left := deadline - time.monotonic()) > 0:
            self._advanced.clear()
            try:
                await asyncio.wait_for(self._advanced.wait(), left)
            except TimeoutError:
                break
        if self._position < end:
            log.warning("token topic: still %d messages behind after %.0f s", end - self._position, timeout)

    def _advance(self, offset: int) -> None:
        self._position = offset + 1
        self._advanced.set()

    def _check(self, value: bytes | None, signature: bytes | None, seen_at: float) -> TokenMessage:
        if not value:
            raise TokenMessageInvalid("malformed", "empty message")
        if len(value) > MAX_MESSAGE_BYTES:  # before spending an HMAC on it
            raise TokenMessageInvalid("too_large", f"{len(value)} bytes")
        if signature is None:
            raise TokenMessageInvalid("unsigned", f"no single {SIGNATURE_HEADER} header")
        if not self._keyring.verify_message(value, signature):
            raise TokenMessageInvalid("bad_signature", "not signed with a key of this deployment")
        message = decode(value)
        self._freshness.check(message.origin, seen_at)
        return message

    def _skip(self, reason: str, offset: int, detail: str) -> None:
        self.skipped[reason] += 1
        now = time.monotonic()
        if now - self._skip_logged.get(reason, -SKIP_LOG_INTERVAL_S) >= SKIP_LOG_INTERVAL_S:
            self._skip_logged[reason] = now
            log.warning(
                "token topic: skipping the message at offset %d (%s); %d skipped for this reason so far",
                offset,
                detail,
                self.skipped[reason],
            )
