"""The token topic as every worker sees it: read whole (no consumer group), written with acks=all.

Grants and releases must reach every worker, so the single-partition token topic is read by
an assigned (group-less) consumer in each process rather than by a Faust agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from protocol.kafka_security import aiokafka_options
from protocol.settings import Settings
from protocol.token import TokenMessage, decode, encode

log = logging.getLogger(__name__)


class TokenChannel:
    def __init__(self, settings: Settings, topic: str, *, history: int = 1000) -> None:
        self._settings = settings
        self._tp = TopicPartition(topic, 0)
        self._history = history
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.caught_up = asyncio.Event()
        self._catch_up_offset = 0

    async def start(self) -> None:
        """Connect, then rewind a little so the highest epoch ever granted is seen before granting."""
        self._producer = AIOKafkaProducer(
            **aiokafka_options(self._settings), acks="all", linger_ms=0, enable_idempotence=True
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            **aiokafka_options(self._settings), group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
        )
        await self._consumer.start()
        self._consumer.assign([self._tp])
        end = (await self._consumer.end_offsets([self._tp]))[self._tp]
        self._catch_up_offset = end
        self._consumer.seek(self._tp, max(0, end - self._history))
        if end == 0:
            self.caught_up.set()

    async def stop(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def publish(self, message: TokenMessage) -> None:
        assert self._producer is not None, "start() the channel first"
        await self._producer.send_and_wait(self._tp.topic, encode(message), partition=0)

    async def messages(self) -> AsyncIterator[TokenMessage]:
        assert self._consumer is not None, "start() the channel first"
        async for record in self._consumer:
            if record.offset + 1 >= self._catch_up_offset:
                self.caught_up.set()
            try:
                yield decode(record.value)
            except (ValueError, TypeError) as exc:
                log.warning("ignoring a malformed token-topic message at offset %d: %s", record.offset, exc)
