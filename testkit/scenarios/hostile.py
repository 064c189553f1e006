"""The world's hostile scenarios: producers that are not kafka-python, a Kafka client without the
key attacking the token topic (forging messages, or writing copies of signed ones again), and the
key file rewritten badly during a run."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from kafka import KafkaProducer

from protocol.keys import add_key, read_key_file
from protocol.partitioning import partition_for
from protocol.token_messages import INT64_MAX, GrantMessage, Presence, TokenMessageInvalid, decode
from testkit.observers import owned, wait_split
from testkit.pipeline import PipelineHarness, read_records
from testkit.processes import ManagedProcess
from testkit.scenarios.base import OPEN_STREAM_S, WARM_UP, observed
from testkit.waiting import eventually

FORGERY_TTL_S = 5.0
REPLAY_S = 8.0  # how long a captured presence is written again
REPLAY_INTERVAL_S = 0.02  # 50 copies a second against the worker's one presence a second
_METRIC = r"^{name}(?:\{{reason=\"(?P<label>[^\"]+)\"\}})? (?P<value>\S+)$"


def foreign_producers(harness: PipelineHarness) -> Any:
    """librdkafka (CRC32 partitioner), keyless and gateway-keyed readings, then ordinary ones."""
    _, (worker,) = harness.start()
    topic, per_sensor = harness.topics.readings, 50
    crc32 = [f"rdk-{i}" for i in range(12)]
    chosen = _send_with_librdkafka(harness.bootstrap, topic, crc32, per_sensor)
    keyless, gateway = [f"nokey-{i}" for i in range(4)], [f"gw-{i}" for i in range(4)]
    _send_with_kafka_python(harness.bootstrap, topic, keyless, per_sensor, key=None)
    _send_with_kafka_python(harness.bootstrap, topic, gateway, per_sensor, key=b"gateway-7")
    foreign = _summary({s: per_sensor for s in crc32 + keyless + gateway})
    started = time.monotonic()
    ordinary = harness.simulate("--sensors", "8", "--count", "400", "--rate", "0", "--seed", "3")
    harness.wait_stored(foreign["sent_valid"] + ordinary["sent_valid"], timeout=120)
    murmur2 = Counter(partition_for(s, harness.partitions) for s in crc32 for _ in range(per_sensor))
    # what the web node must have counted as not where murmur2 puts it: librdkafka's CRC32 and the
    # gateway's key are known exactly, keyless readings land anywhere (from none of them to all)
    rdk_partition = {s: zlib.crc32(s.encode()) % harness.partitions for s in crc32}
    gateway_partition = partition_for("gateway-7", harness.partitions)
    misplaced = per_sensor * (
        sum(rdk_partition[s] != partition_for(s, harness.partitions) for s in crc32)
        + sum(gateway_partition != partition_for(s, harness.partitions) for s in gateway)
    )
    evidence = {
        "librdkafka_not_murmur2": Counter(chosen) != murmur2,
        "librdkafka_is_crc32": Counter(chosen) == Counter(rdk_partition[s] for s in crc32 for _ in range(per_sensor)),
        "unpartitioned_counted": _web_metric(harness, "telering_readings_unpartitioned_total"),
        "unpartitioned_expected": (misplaced, misplaced + per_sensor * len(keyless)),
        "dead_lettered": len(harness.dlq_messages()),
        "worker_alive": worker.alive,
        "simulator_failed": ordinary["failed"],
    }
    return harness.tally("foreign-producers", [foreign, ordinary], _since(started), evidence)


def token_forgery(harness: PipelineHarness) -> Any:
    """Everything a client without the key can write to the token topic, while readings stream;
    then a second worker re-reads that history and takes over."""
    _, (worker,) = harness.start()
    name = requests.get(worker.health_url, timeout=10).json()["worker"]
    producer = KafkaProducer(bootstrap_servers=harness.bootstrap, acks="all", max_request_size=2_000_000)
    with observed(harness) as run:
        stream = run.stream(duration=16, seed=21)
        harness.wait_stored(WARM_UP)
        current = eventually(lambda: (run.token.grants() or [None])[-1], timeout=30)
        signed = next(r for r in read_records(harness.bootstrap, harness.topics.token) if b'"grant"' in r.value)
        attacked_at, attacked_after = time.time(), run.token.last_offset
        messages = [*_forgeries(name, current), (signed.value, list(signed.headers))]  # ... and a replay
        for value, headers in messages:
            producer.send(harness.topics.token, value=value, headers=headers, partition=0)
        producer.flush(30)
        fault_end = time.monotonic()
        summary = stream.summary()
        harness.wait_stored(summary["sent_valid"], timeout=120)
        recovery = run.wait_caught_up(fault_end)
        run.evidence.update(
            forged_messages=len(messages),
            max_signed_epoch=max((g.epoch for g in run.token.grants()), default=0),  # the watcher checks signatures
            fence_epoch=run.fence.epoch,
            worker_epoch=_metric(worker, "telering_worker_epoch").get("", 0.0),
            skipped=_metric(worker, "telering_worker_token_messages_skipped_total"),
            max_wait_s=_max_wait_s(harness, attacked_at),
            served_after_attack=sorted({r.receiver for r in run.token.releases(attacked_after) if r.stored > 0}),
            worker_alive=worker.alive,
            worker_tracebacks=worker.log_text().count("Traceback"),
        )
        # a worker started now re-reads the attacks in its history; it takes over from the first
        second = harness.start_worker()
        harness.wait_worker_ready(second)
        worker.stop()
        late = harness.simulate("--sensors", "4", "--count", "200", "--rate", "0", "--sensor-prefix", "late-")
        harness.wait_stored(summary["sent_valid"] + late["sent_valid"], timeout=120)
        run.evidence["second_worker_alive"] = second.alive
        result = run.finish("token-forgery", _Done(_merged(summary, late)), recovery)
    return result


def presence_replay(harness: PipelineHarness) -> Any:
    """A signed presence copied off the token topic from when its worker owned half the receivers,
    written again many times a second once it owns them all, while readings stream: the ring
    keeps serving every receiver, and the worker counts each copy as `replayed`."""
    _, workers = harness.start(workers=2)
    with observed(harness) as run:
        stream = run.stream(duration=OPEN_STREAM_S)
        harness.wait_stored(WARM_UP)
        leader = wait_split(workers, harness.partitions, harness.app_id)
        follower = next(w for w in workers if w is not leader)
        name, half = requests.get(leader.health_url, timeout=10).json()["worker"], owned(leader)
        captured = eventually(lambda: _presence_record(harness, name, half), timeout=30)
        follower.stop()
        eventually(lambda: owned(leader) == set(range(harness.partitions)), timeout=60)
        everything = tuple(range(harness.partitions))
        attacked_after = run.token.last_offset
        eventually(lambda: run.token.first(lambda m: _presence_of(m, name, everything), attacked_after), timeout=30)
        attacked_after = run.token.last_offset
        producer = KafkaProducer(bootstrap_servers=harness.bootstrap, acks="all")
        sent, until = 0, time.monotonic() + REPLAY_S
        while time.monotonic() < until:
            producer.send(harness.topics.token, value=captured.value, headers=list(captured.headers), partition=0)
            sent += 1
            time.sleep(REPLAY_INTERVAL_S)  # the attacker's pace, not a synchronisation
        producer.flush(30)
        producer.close()
        fault_end = time.monotonic()
        run.token.sync()
        grants = Counter(g.receiver for g in run.token.grants(attacked_after))
        stream.end_early()
        recovery = run.wait_caught_up(fault_end)
        run.evidence.update(
            captured_partitions=sorted(half or ()),
            replayed_sent=sent,
            grants_during_attack={r: grants[r] for r in everything},
            skipped=_metric(leader, "telering_worker_token_messages_skipped_total"),
            worker_alive=leader.alive,
            worker_tracebacks=leader.log_text().count("Traceback"),
        )
        return run.finish("presence-replay", stream, recovery)


def keyfile_rewrite(harness: PipelineHarness) -> Any:
    """The key file emptied, then half-written, then whole and rotated, while readings stream."""
    _, (worker,) = harness.start()
    (good,) = read_key_file(harness.keys_file)
    with observed(harness) as run:
        stream = run.stream(duration=OPEN_STREAM_S, rate=120.0)  # ended once the key is whole again
        harness.wait_stored(200)
        evidence: dict[str, Any] = {}
        harness.keys_file.write_text("")  # an editor truncating the file before writing it
        eventually(lambda: worker.log_text().count("keeping the 1 key(s) loaded") >= 1, timeout=30)
        evidence["stored_while_empty"] = _stored_meanwhile(harness, 150)
        harness.keys_file.write_text(good[:20])  # half-written: a key too short to sign with
        eventually(lambda: worker.log_text().count("keeping the 1 key(s) loaded") >= 2, timeout=30)
        evidence["stored_while_half_written"] = _stored_meanwhile(harness, 150)
        harness.keys_file.write_text(good + "\n")
        add_key(harness.keys_file)  # whole again, then rotated for real
        fault_end = time.monotonic()
        eventually(lambda: "grant keys reloaded" in worker.log_text(), timeout=30)
        evidence["stored_after_rotation"] = _stored_meanwhile(harness, 150)  # grants signed with the new key
        stream.end_early()
        recovery = run.wait_caught_up(fault_end)
        run.evidence.update(evidence, worker_alive=worker.alive, worker_tracebacks=worker.log_text().count("Traceback"))
        return run.finish("keyfile-rewrite", stream, recovery)


# -- helpers ----------------------------------------------------------------------------------


class _Done:
    """A stream that already ended, with this summary (for `Observed.finish`)."""

    def __init__(self, summary: dict) -> None:
        self._summary = summary

    def summary(self) -> dict:
        return self._summary


def _forgeries(worker_name: str, current: GrantMessage) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    huge, now = INT64_MAX - 2, time.time()
    unsigned = [
        b"not json",
        b"\xff\xfe\x00",
        b'{"type":"presence","worker":"x","partitions":' + b"[" * 50_000 + b"]" * 50_000 + b',"at":1}',
        b'{"type":"release","receiver":"0","epoch":"9","stored":1}',
        b'{"type":"grant","receiver":0,"epoch":' + str(huge).encode() + b',"expires_at":1e12,"token":"x"}',
        _json({"type": "grant", "receiver": 0, "epoch": huge, "expires_at": now + 60, "token": "forged"}),
        _json({"type": "release", "receiver": 0, "epoch": huge, "stored": 0, "superseded_by": huge}),
        _json({"type": "presence", "worker": "phantom", "partitions": list(range(4, 44)), "at": now}),
        _json({"type": "presence", "worker": "future", "partitions": [0], "at": 1e11}),
        _json({"type": "presence", "worker": worker_name, "partitions": [], "at": now + 1}),
        _json({"type": "release", "receiver": current.receiver, "epoch": current.epoch, "stored": 0}),
        b"x" * 900_000,
    ]
    forged_signature = [("telering-signature", b"Zm9yZ2Vk")]
    return [(v, []) for v in unsigned] + [(v, forged_signature) for v in unsigned[5:11]]


def _presence_of(message: object, worker: str, partitions: tuple[int, ...]) -> bool:
    return isinstance(message, Presence) and message.worker == worker and message.partitions == partitions


def _presence_record(harness: PipelineHarness, worker: str, partitions: set[int] | None) -> Any:
    """The latest record of the token topic in which `worker` announced exactly `partitions`."""
    wanted, found = tuple(sorted(partitions or ())), None
    for record in read_records(harness.bootstrap, harness.topics.token):
        try:
            message = decode(record.value)
        except TokenMessageInvalid:
            continue
        if _presence_of(message, worker, wanted):
            found = record
    return found


def _json(value: dict) -> bytes:
    return json.dumps(value).encode()


def _metric(worker: ManagedProcess, name: str) -> dict[str, float]:
    """A worker metric's samples by `reason` label ("" for an unlabelled one)."""
    assert worker.health_url is not None
    text = requests.get(worker.health_url.replace("/healthz", "/metrics"), timeout=10).text
    found = re.finditer(_METRIC.format(name=re.escape(name)), text, re.M)
    return {m.group("label") or "": float(m.group("value")) for m in found}


def _web_metric(harness: PipelineHarness, name: str) -> float:
    """An unlabelled counter of the web node's /metrics."""
    text = requests.get(f"{harness.web_url}/metrics", headers=harness.read_headers, verify=harness.verify, timeout=10)
    found = re.search(_METRIC.format(name=re.escape(name)), text.text, re.M)
    return float(found.group("value")) if found else -1.0


def _max_wait_s(harness: PipelineHarness, since: float) -> float:
    """The longest any reading sent after `since` waited between its timestamp and being stored."""
    with sqlite3.connect(harness.db_path, timeout=30) as conn:
        (worst,) = conn.execute("SELECT max(stored_at - ts) FROM readings WHERE ts >= ?", (since,)).fetchone()
    return round(worst or 0.0, 3)


def _stored_meanwhile(harness: PipelineHarness, n: int) -> int:
    before = harness.stored()
    harness.wait_stored(before + n, timeout=60)
    return harness.stored() - before


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)


def _summary(per_sensor: dict[str, int]) -> dict:
    """A simulator-like summary of readings this module's own producers sent."""
    return {
        "failed": 0,
        "sent_valid": sum(per_sensor.values()),
        "per_sensor": {s: {"sent": n} for s, n in per_sensor.items()},
    }


def _merged(*summaries: dict) -> dict:
    per_sensor: Counter[str] = Counter()
    for summary in summaries:
        per_sensor.update({s: v["sent"] for s, v in summary["per_sensor"].items()})
    merged = _summary(dict(per_sensor))
    merged["failed"] = sum(s["failed"] for s in summaries)
    return merged


def _reading(sensor_id: str, seq: int) -> bytes:
    ts = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    quantities = {"temperature": 20.5, "humidity": 40.0, "pressure": 1000.0, "battery": 90.0}
    return _json({"sensor_id": sensor_id, "seq": seq, "ts": ts, **quantities})


def _send_with_librdkafka(bootstrap: str, topic: str, sensors: list[str], per_sensor: int) -> list[int]:
    """Keyed by sensor id through librdkafka's default partitioner (confluent-kafka); the partitions it chose."""
    from confluent_kafka import Producer  # a test dependency, only this scenario needs it

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    chosen: list[int] = []
    failures: list[str] = []

    def delivered(err, msg) -> None:  # type: ignore[no-untyped-def]
        (failures.append(str(err)) if err is not None else chosen.append(msg.partition()))

    for seq in range(per_sensor):
        for sensor in sensors:
            producer.produce(topic, key=sensor.encode(), value=_reading(sensor, seq), on_delivery=delivered)
        producer.poll(0)
    if producer.flush(60) or failures:
        raise RuntimeError(f"librdkafka could not deliver: {failures[:3]}")
    return chosen


def _send_with_kafka_python(bootstrap: str, topic: str, sensors: list[str], per_sensor: int, key: bytes | None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    futures = [producer.send(topic, key=key, value=_reading(s, seq)) for seq in range(per_sensor) for s in sensors]
    producer.flush(60)
    for future in futures:
        future.get(timeout=60)
    producer.close()
