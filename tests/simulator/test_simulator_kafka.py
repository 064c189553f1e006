"""The simulator against a real Kafka broker (the session `kafka_broker` of tests/support/kafka.py).

Everything it says it delivered is on the topic: message counts, distinct valid readings per
sensor, invalid messages that fail validation, and one partition per sensor.
"""

from __future__ import annotations

import json
import signal
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from protocol.readings import InvalidReading, parse_reading
from simulator import FaultConfig, SimulatorConfig, Summary, run
from simulator.__main__ import main
from testkit.processes import ManagedProcess, child_env, python_argv
from tests.support.waiting import eventually

pytestmark = pytest.mark.kafka

PARTITIONS = 4


@dataclass(frozen=True)
class Record:
    partition: int
    key: bytes
    value: bytes


def consume_all(bootstrap: str, topic: str, partitions: int, timeout_s: float = 60.0) -> list[Record]:
    """Every record on `topic`, read up to the end offsets (waits on positions, with a timeout)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="telering-test-reader",
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        records: list[Record] = []

        def read_to_the_end() -> bool:
            for tp, batch in consumer.poll(timeout_ms=200).items():
                records.extend(Record(tp.partition, r.key, r.value) for r in batch)
            return all(consumer.position(tp) >= end[tp] for tp in tps)

        eventually(read_to_the_end, timeout=timeout_s, interval=0, message=f"reading {topic} up to end offsets {end}")
        return records
    finally:
        consumer.close()


@pytest.fixture
def readings_topic(kafka_topics) -> str:
    """A fresh, uniquely named readings topic with four partitions."""
    return kafka_topics({"readings": PARTITIONS})["readings"]


def check_topic_matches_summary(records: list[Record], summary: Summary) -> None:
    assert len(records) == summary.sent_messages
    valid: dict[str, set[int]] = defaultdict(set)
    invalid = 0
    partition_of: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        partition_of[record.key].add(record.partition)
        try:
            reading = parse_reading(record.value)
        except InvalidReading:
            invalid += 1
            continue
        assert reading.sensor_id.encode() == record.key
        valid[reading.sensor_id].add(reading.seq)
    assert invalid == summary.invalid
    assert sum(len(seqs) for seqs in valid.values()) == summary.sent_valid
    assert {s: len(seqs) for s, seqs in valid.items()} == {s: v["sent"] for s, v in summary.per_sensor.items()}
    assert {s: max(seqs) for s, seqs in valid.items()} == {s: v["last_seq"] for s, v in summary.per_sensor.items()}
    assert all(len(p) == 1 for p in partition_of.values()), "a sensor's messages spread over partitions"


def test_everything_delivered_is_on_the_topic(kafka_broker, readings_topic: str) -> None:
    faults = FaultConfig(invalid_fraction=0.05, duplicate_fraction=0.05, out_of_order_fraction=0.05)
    summary = run(
        SimulatorConfig(
            bootstrap=kafka_broker.bootstrap, topic=readings_topic, sensors=5, rate=0, count=2000, seed=7, faults=faults
        )
    )
    assert summary.failed == 0 and summary.sent_messages == 2000
    assert summary.invalid > 0 and summary.duplicates > 0 and summary.out_of_order > 0
    assert summary.sent_valid == 2000 - summary.invalid - summary.duplicates
    assert sum(summary.invalid_by_kind.values()) == summary.invalid
    for stats in summary.per_sensor.values():
        assert stats["last_seq"] == stats["sent"] - 1  # seqs 0..n-1, none skipped by invalid messages
    check_topic_matches_summary(consume_all(kafka_broker.bootstrap, readings_topic, PARTITIONS), summary)


def test_cli_run_and_a_continuing_run(
    kafka_broker, readings_topic: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "summary.json"
    common = ["--bootstrap", kafka_broker.bootstrap, "--topic", readings_topic, "--sensors", "3", "--quiet"]
    assert main([*common, "--count", "300", "--rate", "0", "--summary-json", str(path)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first == json.loads(path.read_text())
    assert first["sent_valid"] == 300 and first["per_sensor"]["sensor-000"] == {"sent": 100, "last_seq": 99}

    assert main([*common, "--count", "150", "--rate", "0", "--start-seq", "100"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["per_sensor"]["sensor-002"] == {"sent": 50, "last_seq": 149}

    records = consume_all(kafka_broker.bootstrap, readings_topic, PARTITIONS)
    pairs = {(r.sensor_id, r.seq) for r in map(lambda rec: parse_reading(rec.value), records)}
    assert len(records) == len(pairs) == 450  # the second run continued without colliding


def test_a_paced_run_sends_no_more_than_its_rate_and_duration_allow(kafka_broker, readings_topic: str) -> None:
    summary = run(
        SimulatorConfig(bootstrap=kafka_broker.bootstrap, topic=readings_topic, sensors=2, rate=200, duration_s=1.5)
    )
    # pacing only ever holds back: never more slots than rate x duration, whatever the machine's
    # speed (a busy machine may send fewer, so no lower bound is asserted); the pacer's timing is
    # tested on a fake clock in test_pacing.py
    assert 0 < summary.sent_messages <= 301
    records = consume_all(kafka_broker.bootstrap, readings_topic, PARTITIONS)
    assert len(records) == summary.sent_messages  # the deadline ended the run after every send was acknowledged
    seqs: dict[str, list[int]] = {}
    for reading in (parse_reading(r.value) for r in records):
        seqs.setdefault(reading.sensor_id, []).append(reading.seq)
    assert all(sorted(s) == list(range(len(s))) for s in seqs.values()), "slots are sent in order, none skipped"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_run_stopped_by_a_signal_summarises_exactly_what_it_sent(
    kafka_broker, readings_topic: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    path = tmp_path / "summary.json"
    argv = ["--bootstrap", kafka_broker.bootstrap, "--topic", readings_topic, "--sensors", "4", "--quiet"]
    argv += ["--rate", "2000", "--duration", "600", "--summary-json", str(path)]
    faults = ["--invalid-fraction", "0.05", "--duplicate-fraction", "0.05"]
    proc = ManagedProcess("simulator", python_argv("simulator", *argv, *faults), child_env({}), tmp_path / "sim.log")
    proc.start()
    try:
        eventually(lambda: _on_topic(kafka_broker.bootstrap, readings_topic) >= 500, timeout=60, interval=0.2)
        assert proc.proc is not None
        proc.proc.send_signal(stop_signal)
        assert proc.proc.wait(60) == 0, proc.log_tail()
    finally:
        proc.kill()
    summary = Summary(**json.loads(path.read_text()))
    assert summary.failed == 0 and 500 <= summary.sent_messages < 600 * 2000
    check_topic_matches_summary(consume_all(kafka_broker.bootstrap, readings_topic, PARTITIONS), summary)


def _on_topic(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()
