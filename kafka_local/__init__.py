"""Run a real Apache Kafka broker locally (KRaft, single node) without Docker or a tarball."""

from kafka_local.admin import BrokerUnavailable, create_topics, wait_for_broker
from kafka_local.broker import BrokerError, KafkaHandle, LocalKafka, broker_from_env, kafka_from_env
from kafka_local.jars import KAFKA_VERSION, JarsError, KafkaJars, kafka_version, resolve, resolve_lib_dir

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerUnavailable",
    "JarsError",
    "KafkaHandle",
    "KafkaJars",
    "LocalKafka",
    "broker_from_env",
    "create_topics",
    "kafka_from_env",
    "kafka_version",
    "resolve",
    "resolve_lib_dir",
    "wait_for_broker",
]
