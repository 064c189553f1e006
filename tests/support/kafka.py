"""Kafka fixtures: one real broker per session (or ``KAFKA_BOOTSTRAP``), unique topic names.

Tests that use ``kafka_broker`` or ``kafka_factory`` are marked ``kafka`` automatically.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from kafka_local import KafkaHandle, LocalKafka, create_topics, kafka_from_env

_KAFKA_FIXTURES = {"kafka_broker", "kafka_factory", "kafka_topics"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _KAFKA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaHandle]:
    """The session's broker: ``.bootstrap``; ``.broker`` is the LocalKafka (None if external).

    Shared by every test: a test that kills or restarts ``.broker`` must leave it running.
    """
    with kafka_from_env(tmp_path_factory.mktemp("kafka")) as handle:
        yield handle


@pytest.fixture
def kafka_factory(tmp_path: Path) -> Iterator[Callable[..., LocalKafka]]:
    """Start private brokers (for fault tests that must not disturb the shared one).

    ``kafka_factory(**kwargs)`` takes LocalKafka's keyword arguments and returns a started
    broker; all are stopped at teardown.
    """
    brokers: list[LocalKafka] = []

    def make(**kwargs: object) -> LocalKafka:
        broker = LocalKafka(tmp_path / f"kafka-{len(brokers)}", **kwargs)  # type: ignore[arg-type]
        brokers.append(broker)
        broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A prefix unique to this test, e.g. for ``Topics.with_prefix`` and group ids."""
    return f"t{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def kafka_topics(kafka_broker: KafkaHandle, topic_prefix: str) -> Callable[[Mapping[str, int]], dict[str, str]]:
    """``kafka_topics({"readings": 4})`` creates prefixed topics; returns ``{name: full name}``."""

    def make(partitions: Mapping[str, int]) -> dict[str, str]:
        names = {name: topic_prefix + name for name in partitions}
        create_topics(kafka_broker.bootstrap, {names[n]: p for n, p in partitions.items()})
        return names

    return make
