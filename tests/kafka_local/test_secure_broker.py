"""kafka_local's SASL_SSL broker (the `secure_kafka` session broker): TLS with the CA it made,
SCRAM users created at format time, material kept in its work directory."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kafka_local import create_topics
from kafka_local.secure import MECHANISMS, BrokerSecurity
from protocol.kafka_security import kafka_python_options
from protocol.settings import Settings

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_scram_users_over_tls(secure_kafka, topic_prefix, mechanism):
    env = {**secure_kafka.client_env(), "KAFKA_SASL_MECHANISM": mechanism}
    options = kafka_python_options(Settings(**env))
    topic = f"{topic_prefix}{mechanism.lower()}"
    create_topics(secure_kafka.bootstrap, {topic: 1}, client_options=options)
    producer = KafkaProducer(**options, acks="all")
    for i in range(5):
        producer.send(topic, f"m{i}".encode())
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(**options, group_id=None, auto_offset_reset="earliest", consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, 0)])
    assert [r.value for r in consumer][:5] == [f"m{i}".encode() for i in range(5)]
    consumer.close()


def test_client_env_names_the_settings_and_the_material_is_kept(secure_kafka):
    env = secure_kafka.client_env()
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_BOOTSTRAP"] == secure_kafka.bootstrap
    assert env["KAFKA_BOOTSTRAP"] != secure_kafka.plaintext_bootstrap
    assert "KAFKA_SASL_PASSWORD" not in env  # by file, never in the environment
    security = secure_kafka.security
    assert BrokerSecurity.ensure(security.directory) == security  # a restart reuses certificate and users
    assert (security.directory / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
