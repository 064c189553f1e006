"""kafka_local's SASL_SSL broker (the `secure_kafka` session broker): TLS with the CA it made,
SCRAM users created at format time, material kept in its work directory, KRaft's
StandardAuthorizer with one principal per role (protocol/kafka_acls.py)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kafka_local import create_topics
from kafka_local.secure import ADMIN_USER, CLIENT_USER, MECHANISMS, PRODUCER_USER, BrokerSecurity
from protocol.kafka_security import aiokafka_options, kafka_python_options
from protocol.settings import Settings
from protocol.topics import Topics

pytestmark = pytest.mark.kafka


def options_of(broker, user: str, **extra: str) -> dict:
    return kafka_python_options(Settings(**{**broker.client_env(user), **extra}))


def produce(options: dict, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(**options, acks="all", max_block_ms=20_000)
    try:
        for future in [producer.send(topic, v, partition=0) for v in values]:
            future.get(timeout=30)
    finally:
        producer.close()


def consume(options: dict, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(**options, group_id=None, auto_offset_reset="earliest", consumer_timeout_ms=5000)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        return [r.value for r in consumer]
    finally:
        consumer.close()


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_scram_users_over_tls(secure_kafka, topic_prefix, mechanism):
    options = options_of(secure_kafka, ADMIN_USER, KAFKA_SASL_MECHANISM=mechanism)
    topic = f"{topic_prefix}{mechanism.lower()}"
    create_topics(secure_kafka.bootstrap, {topic: 1}, client_options=options)
    produce(options, topic, [f"m{i}".encode() for i in range(5)])
    assert consume(options, topic)[:5] == [f"m{i}".encode() for i in range(5)]


async def read_as(broker, user: str, topic: str) -> list[bytes]:
    """Everything on `topic`, read the way a worker reads the token topic (aiokafka, no group)."""
    consumer = AIOKafkaConsumer(
        topic, **aiokafka_options(Settings(**broker.client_env(user))), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000)
        return [r.value for records in batches.values() for r in records]
    finally:
        await consumer.stop()


async def write_as(broker, user: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**aiokafka_options(Settings(**broker.client_env(user))), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


async def test_the_producers_login_writes_readings_and_cannot_read_or_write_the_token_topic(secure_kafka, topic_prefix):
    settings = Settings(telering_topic_prefix=topic_prefix, telering_app_id=f"{topic_prefix}app")
    topics = Topics.with_prefix(topic_prefix)
    assert secure_kafka.grant_roles(settings) > 0
    admin, worker = options_of(secure_kafka, ADMIN_USER), options_of(secure_kafka, CLIENT_USER)
    create_topics(secure_kafka.bootstrap, {topics.readings: 1, topics.token: 1}, client_options=admin)
    produce(worker, topics.token, [b"a grant, signed, in clear"])

    produce(options_of(secure_kafka, PRODUCER_USER), topics.readings, [b"reading-1", b"reading-2"])  # its one job
    assert consume(worker, topics.readings) == [b"reading-1", b"reading-2"]
    with pytest.raises(TopicAuthorizationFailedError):
        await read_as(secure_kafka, PRODUCER_USER, topics.token)  # where grants travel
    with pytest.raises(TopicAuthorizationFailedError):
        await write_as(secure_kafka, PRODUCER_USER, topics.token, b"a forged or copied token message")
    with pytest.raises(TopicAuthorizationFailedError):
        await read_as(secure_kafka, PRODUCER_USER, topics.readings)  # nor what other producers write
    assert await read_as(secure_kafka, CLIENT_USER, topics.token) == [b"a grant, signed, in clear"]


def test_secrets_stay_off_command_lines_and_the_config_is_private(secure_kafka):
    config = secure_kafka.workdir / "server.properties"
    assert config.stat().st_mode & 0o777 == 0o600
    assert secure_kafka.security.keystore_password in config.read_text()  # why it must be 0600
    assert not (secure_kafka.workdir / "format.args").exists()  # the SCRAM passwords' argument file
    cmdline = (f"/proc/{secure_kafka.pid}/cmdline").encode()
    with open(cmdline, "rb") as f:
        argv = f.read().decode(errors="replace")
    for password in (*secure_kafka.security.passwords.values(), secure_kafka.security.keystore_password):
        assert password not in argv


def test_client_env_names_the_settings_and_the_material_is_kept(secure_kafka):
    env = secure_kafka.client_env()
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_BOOTSTRAP"] == secure_kafka.bootstrap
    assert env["KAFKA_BOOTSTRAP"] != secure_kafka.plaintext_bootstrap
    assert env["KAFKA_SASL_USERNAME"] == CLIENT_USER
    assert "KAFKA_SASL_PASSWORD" not in env  # by file, never in the environment
    security = secure_kafka.security
    assert BrokerSecurity.ensure(security.directory) == security  # a restart reuses certificate and users
    assert (security.directory / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
