"""How every telering Kafka client connects: bootstrap servers and (later) TLS/SASL, from Settings.

One place builds the connection options, so the worker (aiokafka, Faust), the simulator and
the tools (kafka-python) can never disagree on how to reach the cluster.
"""

from __future__ import annotations

from typing import Any

from protocol.settings import Settings


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaConsumer / AIOKafkaProducer / AIOKafkaAdminClient."""
    return {"bootstrap_servers": settings.kafka_bootstrap}


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaConsumer / KafkaProducer / KafkaAdminClient."""
    return {"bootstrap_servers": settings.kafka_bootstrap.split(",")}
