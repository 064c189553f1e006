"""The world's scenarios (issue 11) on real processes: foreign producers, a token topic under
attack, the key file rewritten badly mid-run. Each ends by counting, sensor by sensor.

Needs: the session's real Apache Kafka broker, a real web node process with a SQLite file, real
worker processes, the simulator and a real librdkafka producer (confluent-kafka). The scenarios
live in testkit/scenarios/hostile.py; `python -m benchmarks.faults` runs the same code as a report.
"""

from __future__ import annotations

import pytest

from testkit.integrity import assert_exactly_once
from testkit.scenarios import run_scenario

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


PARTITIONS = 4


def test_readings_from_any_partitioner_or_key_are_stored_and_the_stream_keeps_flowing(kafka_broker, tmp_path):
    result = run_scenario("foreign-producers", kafka_broker.bootstrap, tmp_path)
    assert_exactly_once(result, min_sent=600)
    evidence = result.evidence
    assert evidence["librdkafka_not_murmur2"], "librdkafka must really have put readings where murmur2 would not"
    assert evidence["dead_lettered"] == 0 and evidence["worker_alive"]
    # stored anyway, and said so: the web node counted the readings murmur2 would have put elsewhere
    assert evidence["librdkafka_is_crc32"], evidence
    low, high = evidence["unpartitioned_expected"]
    assert low > 0 and low <= evidence["unpartitioned_counted"] <= high, evidence


def test_a_client_without_the_key_cannot_crash_or_steer_the_ring(kafka_broker, tmp_path):
    result = run_scenario("token-forgery", kafka_broker.bootstrap, tmp_path)
    assert_exactly_once(result, min_sent=600)
    evidence = result.evidence
    assert evidence["max_signed_epoch"] < 1_000_000 and evidence["fence_epoch"] < 1_000_000, evidence
    assert evidence["worker_epoch"] < 1_000_000, "a forged epoch reached the coordinator"
    assert evidence["served_after_attack"] == list(range(PARTITIONS)), "a receiver was never served after the attack"
    skipped = evidence["skipped"]
    assert skipped["unsigned"] + skipped["too_large"] >= 12 and skipped["bad_signature"] >= 6, skipped
    assert evidence["worker_alive"] and evidence["worker_tracebacks"] == 0
    assert evidence["second_worker_alive"], "a worker re-reading the attacked history must start and take over"
    assert evidence["fence_regressions"] == []


def test_an_old_presence_written_again_starves_no_receiver(kafka_broker, tmp_path):
    result = run_scenario("presence-replay", kafka_broker.bootstrap, tmp_path)
    assert_exactly_once(result, min_sent=600)
    evidence = result.evidence
    assert len(evidence["captured_partitions"]) < PARTITIONS, evidence
    grants = evidence["grants_during_attack"]
    # every receiver keeps its turns while the copies pour in (a fair share is a quarter each)
    assert min(grants.values()) >= 0.1 * sum(grants.values()), grants
    assert evidence["skipped"].get("replayed", 0) >= evidence["replayed_sent"] > 100, evidence
    assert evidence["worker_alive"] and evidence["worker_tracebacks"] == 0
    assert evidence["fence_regressions"] == []


def test_the_key_file_rewritten_badly_during_a_run_changes_nothing(kafka_broker, tmp_path):
    result = run_scenario("keyfile-rewrite", kafka_broker.bootstrap, tmp_path)
    assert_exactly_once(result, min_sent=600)
    evidence = result.evidence
    # the scenario itself fails unless readings were stored while the file was empty, half-written and rotated
    assert evidence["worker_alive"] and evidence["worker_tracebacks"] == 0
    assert evidence["refused_401"] == 0, "no grant may be refused for its key"
