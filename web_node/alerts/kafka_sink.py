"""The Kafka sink: every transition to topic `telering-alerts`, key `<rule>/<sensor_id>`, value
its JSON object, with acks=all over the same connection settings as the worker."""

from __future__ import annotations

import asyncio
import json
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from protocol.kafka_security import aiokafka_options, describe
from protocol.settings import Settings
from web_node.alerts.engine import Transition
from web_node.alerts.outbox import Outbox

log = logging.getLogger(__name__)

SINK = "kafka"
RETRY_S = (1.0, 2.0, 5.0)


class KafkaSink:
    """Publishes the outbox past its cursor; `run` loops until cancelled, woken by `wakeup`."""

    def __init__(self, settings: Settings, topic: str, outbox: Outbox, wakeup: asyncio.Event) -> None:
        self.settings, self.topic, self.outbox, self.wakeup = settings, topic, outbox, wakeup
        self.producer: AIOKafkaProducer | None = None

    async def run(self, *, poll_s: float = 1.0) -> None:
        failures = 0
        try:
            while True:
                try:
                    await self.publish()
                    failures = 0
                except (KafkaError, OSError, SQLAlchemyError) as exc:  # nothing else waits on this sink
                    log.warning("alerts topic %s: %s; retrying", self.topic, exc)
                    await self._close()
                    await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
                    failures += 1
                    continue
                try:
                    await asyncio.wait_for(self.wakeup.wait(), poll_s)
                except TimeoutError:
                    pass
                self.wakeup.clear()
        finally:
            await self._close()

    async def publish(self) -> int:
        """Send every transition past the cursor, then advance it; how many were sent."""
        cursor, sent = await self.outbox.cursor(SINK), 0
        while rows := await self.outbox.after(cursor):
            producer = await self._producer()
            futures = [
                await producer.send(
                    self.topic,
                    key=f"{row.rule}/{row.sensor_id}".encode(),
                    value=json.dumps(Transition(*tuple(row)[1:]).as_json()).encode(),
                )
                for row in rows
            ]
            await asyncio.gather(*futures)  # every one acknowledged (acks=all) before the cursor moves
            cursor = rows[-1].seq
            await self.outbox.advance(SINK, cursor)
            sent += len(rows)
        return sent

    async def _producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **aiokafka_options(self.settings))
            await producer.start()
            log.info("publishing alert transitions to %s (%s)", self.topic, describe(self.settings))
            self.producer = producer
        return self.producer

    async def _close(self) -> None:
        if self.producer is not None:
            producer, self.producer = self.producer, None
            try:
                await producer.stop()
            except KafkaError:
                log.debug("alerts producer did not stop cleanly", exc_info=True)
