"""protocol.topic_admin, the one place topics are made: specs from the settings, and creation
against the real broker (idempotent, with the token topic's retention)."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from protocol.settings import Settings
from protocol.topic_admin import TOKEN_RETENTION_MS, ensure_topics, min_insync_replicas, telering_topics
from protocol.topics import Topics


def test_specs_follow_partitions_replication_and_prefix():
    specs = telering_topics(Settings(READINGS_PARTITIONS=6, TOPIC_REPLICATION=3, TELERING_TOPIC_PREFIX="p-"))
    assert [(s.name, s.partitions, s.replication) for s in specs] == [
        ("p-readings", 6, 3),
        ("p-telering-token", 1, 3),
        ("p-readings-dlq", 1, 3),
        ("p-telering-alerts", 1, 3),
    ]
    assert all(s.configs["min.insync.replicas"] == "2" for s in specs)
    assert specs[1].configs["retention.ms"] == str(TOKEN_RETENTION_MS)
    assert [min_insync_replicas(n) for n in (1, 2, 3, 5)] == [None, 2, 2, 3]
    assert "min.insync.replicas" not in telering_topics(Settings(TOPIC_REPLICATION=1))[0].configs


@pytest.mark.kafka
def test_creates_the_three_topics_once(kafka_broker, topic_prefix):
    settings = Settings(
        KAFKA_BOOTSTRAP=kafka_broker.bootstrap, TELERING_TOPIC_PREFIX=topic_prefix, READINGS_PARTITIONS=3
    )
    topics = Topics.with_prefix(topic_prefix)
    assert sorted(ensure_topics(settings)) == sorted([topics.readings, topics.token, topics.dlq, topics.alerts])
    assert ensure_topics(settings) == []  # idempotent
    with KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap) as admin:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([topics.readings, topics.token])}
        assert described == {topics.readings: 3, topics.token: 1}
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topics.token)])
        assert str(TOKEN_RETENTION_MS) in str(configs)


@pytest.mark.kafka
def test_telering_topics_command(kafka_broker, topic_prefix, tmp_path):
    """`telering-topics` (what compose's topic-init runs): creates, then finds them existing."""
    import subprocess

    from testkit.processes import child_env, python_argv

    env = child_env(
        {"KAFKA_BOOTSTRAP": kafka_broker.bootstrap, "TELERING_TOPIC_PREFIX": topic_prefix, "READINGS_PARTITIONS": "2"}
    )
    argv = python_argv("protocol.topics_cli", "--timeout", "30")
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"{topic_prefix}readings: created (2 partition(s), replication 1)" in first.stdout
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.count(": exists") == 4
