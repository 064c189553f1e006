"""Shipping messages to Kafka (kafka-python, acks=all) and pacing them to a target rate."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from protocol.kafka_preflight import check_connection
from protocol.kafka_security import KafkaSecurityError, kafka_python_options
from protocol.settings import Settings
from protocol.topic_admin import TopicAdminError, ensure_topics, readings_topic
from simulator.encoding import message_key
from simulator.messages import Outgoing
from simulator.summary import Tally

log = logging.getLogger(__name__)

# Durable (acks=all, idempotent so retries never duplicate) yet batched for throughput.
PRODUCER_OPTIONS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 20,
    "batch_size": 128 * 1024,
    "max_in_flight_requests_per_connection": 5,
    "client_id": "telering-simulator",
}
MAX_PENDING = 50_000  # sent but not yet acknowledged; beyond this, wait for the broker


def check_kafka(settings: Settings) -> None:
    """Fail at once, naming the setting, on a refused password or an untrusted certificate."""
    try:
        check_connection(settings)
    except KafkaSecurityError as exc:
        raise ProducerError(str(exc)) from exc


def ensure_topic(settings: Settings, topic: str, partitions: int) -> None:
    """Create `topic` unless it exists (protocol.topic_admin, honouring TOPIC_REPLICATION): left to
    auto-creation it would get the broker's default partition count, and the number of partitions
    is the number of receivers."""
    try:
        ensure_topics(settings, [readings_topic(settings, topic, partitions)])
    except (TopicAdminError, KafkaSecurityError) as exc:
        raise ProducerError(str(exc)) from exc


class ProducerError(RuntimeError):
    """The producer could not start or could not deliver within its timeout."""


class ReadingProducer:
    """Sends `Outgoing` messages keyed by sensor id; deliveries and failures go to a `Tally`."""

    def __init__(self, settings: Settings, topic: str, tally: Tally, **options: Any) -> None:
        self._topic = topic
        self._tally = tally
        self.submitted = 0
        try:
            connection = kafka_python_options(settings)
            self._producer = KafkaProducer(**connection, **{**PRODUCER_OPTIONS, **options})
        except (KafkaError, KafkaSecurityError) as exc:
            raise ProducerError(f"cannot connect to Kafka at {settings.kafka_bootstrap!r}: {exc}") from exc

    def send(self, message: Outgoing) -> None:
        """Queue one message; its delivery (or failure) is counted when the broker answers."""
        self.submitted += 1
        try:
            future = self._producer.send(self._topic, value=message.value, key=message_key(message.sensor_id))
        except KafkaError as exc:
            self._tally.on_failed(message, exc)
            return
        future.add_callback(self._tally.on_delivered, message)
        future.add_errback(self._tally.on_failed, message)

    def wait_for_room(self, timeout_s: float = 60.0) -> None:
        """Backpressure: block while too many messages await the broker's acknowledgement."""
        behind = self.submitted - self._tally.completed() > MAX_PENDING
        if behind and not self._tally.wait_completed(self.submitted - MAX_PENDING // 2, timeout_s):
            raise ProducerError(f"the broker acknowledged nothing for {timeout_s:.0f} s")

    def flush(self, timeout_s: float) -> None:
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise ProducerError(f"flush did not finish within {timeout_s:.0f} s: {exc}") from exc

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.close(timeout=timeout_s)

    def __enter__(self) -> ReadingProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Pacer:
    """A deadline schedule: slot i is due at start + i / rate; rate 0 means no pacing.

    Sleeping here is rate control. Being late is not made up by an unbounded burst: a schedule
    more than `max_lag_s` behind is restarted from now.
    """

    def __init__(
        self,
        rate: float,
        *,
        max_lag_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0:
            raise ValueError(f"rate must be >= 0, got {rate!r}")
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._max_lag_s = max_lag_s
        self._clock, self._sleep = clock, sleep
        self._start = clock()
        self._origin_slot = 0

    def wait(self, slot: int, not_after: float | None = None) -> None:
        """Return when slot `slot` is due, or at `not_after` (a clock time) if that is earlier."""
        if self._interval == 0.0:
            return
        due = self._start + (slot - self._origin_slot) * self._interval
        if not_after is not None:
            due = min(due, not_after)
        ahead = due - self._clock()
        if ahead > 0.0005:  # below that, the sleep would cost more than the drift it fixes
            self._sleep(ahead)
        elif -ahead > self._max_lag_s:
            self._start, self._origin_slot = self._clock(), slot
