"""A secured broker for the tests that need one: SASL_SSL (SCRAM users, its own CA) from kafka_local.

Session-scoped and started only when a test asks for `secure_kafka` (marked `kafka`); it runs
beside the plaintext session broker, so only the security tests pay for a second JVM.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kafka_local import LocalKafka


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "secure_kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A started SASL_SSL LocalKafka: `.bootstrap` is its SASL_SSL listener, `.client_env()` the
    settings of a client (user `telering`, password file, CA file), `.security` its material."""
    broker = LocalKafka(tmp_path_factory.mktemp("secure-kafka"), security="SASL_SSL")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
