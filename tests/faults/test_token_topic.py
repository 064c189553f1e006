"""The token topic cannot be used to attack the ring (issue 11).

A Kafka client without the grant key writes to the token topic while readings stream: garbage,
JSON nested 50,000 deep, wrong types, an oversized value, grants and releases with epochs near
2**63, presence with 40 phantom partitions or a time in the year 5138, a presence in a real
worker's name owning nothing, releases ending the current turn early, bad signatures, and a
replay of a real (signed) grant. The pipeline keeps storing every reading exactly once, no
receiver waits longer than one grant TTL, epochs stay small, every message is skipped and
counted — and a worker started afterwards, which re-reads the topic's history, starts fine.

Needs: the session's real Apache Kafka broker, a real web node process with a SQLite file, real
worker processes and the simulator.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time

import pytest
import requests
from kafka import KafkaProducer

from protocol.grants import GrantCodec, GrantError
from protocol.keys import read_key_file
from protocol.token import INT64_MAX, GrantMessage
from testkit.observers import TokenWatcher
from testkit.waiting import eventually
from tests.faults.hostile import assert_exactly_once, fence

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TTL_S = 5.0
_SKIPPED = re.compile(r'^telering_worker_token_messages_skipped_total\{reason="([^"]+)"\} (\S+)$', re.M)


def metric(worker, name: str) -> float:
    text = requests.get(worker.health_url.replace("/healthz", "/metrics"), timeout=10).text
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))


def _signed(harness, grant: GrantMessage) -> bool:
    try:
        GrantCodec(read_key_file(harness.keys_file)).verify(grant.token, now=0.0)
    except GrantError:
        return False
    return True


def skipped(worker) -> dict[str, float]:
    text = requests.get(worker.health_url.replace("/healthz", "/metrics"), timeout=10).text
    return {reason: float(n) for reason, n in _SKIPPED.findall(text)}


def attacks(worker_name: str, current: GrantMessage) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """(value, headers) of every message the attacker writes."""
    huge = INT64_MAX - 2
    unsigned = [
        b"not json",
        b"\xff\xfe\x00",
        b'{"type":"presence","worker":"x","partitions":' + b"[" * 50_000 + b"]" * 50_000 + b',"at":1}',
        b'{"type":"release","receiver":"0","epoch":"9","stored":1}',
        b'{"type":"grant","receiver":0,"epoch":' + str(huge).encode() + b',"expires_at":1e12,"token":"x"}',
        json.dumps(
            {"type": "grant", "receiver": 0, "epoch": huge, "expires_at": time.time() + 60, "token": "forged"}
        ).encode(),
        json.dumps({"type": "release", "receiver": 0, "epoch": huge, "stored": 0, "superseded_by": huge}).encode(),
        json.dumps(
            {"type": "presence", "worker": "phantom", "partitions": list(range(4, 44)), "at": time.time()}
        ).encode(),
        json.dumps({"type": "presence", "worker": "future", "partitions": [0], "at": 1e11}).encode(),
        json.dumps({"type": "presence", "worker": worker_name, "partitions": [], "at": time.time() + 1}).encode(),
        json.dumps({"type": "release", "receiver": current.receiver, "epoch": current.epoch, "stored": 0}).encode(),
        b"x" * 900_000,
    ]
    messages = [(value, []) for value in unsigned]
    forged_signature = [("telering-signature", b"Zm9yZ2Vk")]
    messages += [(value, forged_signature) for value in unsigned[5:11]]
    return messages


def max_wait_s(harness, since: float) -> float:
    """The longest any reading sent after `since` waited between its timestamp and being stored."""
    with sqlite3.connect(harness.db_path, timeout=30) as conn:
        (worst,) = conn.execute("SELECT max(stored_at - ts) FROM readings WHERE ts >= ?", (since,)).fetchone()
    return worst or 0.0


def test_a_client_without_the_key_cannot_crash_or_steer_the_ring(pipeline_factory):
    harness = pipeline_factory(partitions=4, grant_ttl_s=TTL_S)
    harness.start_web_node()
    worker = harness.start_worker()
    harness.wait_worker_ready(worker)
    name = requests.get(worker.health_url, timeout=10).json()["worker"]
    producer = KafkaProducer(bootstrap_servers=harness.bootstrap, acks="all", max_request_size=2_000_000)

    with TokenWatcher(harness.bootstrap, harness.topics.token) as watcher:
        simulator, summary_path = harness.start_simulator(
            "--sensors", "16", "--rate", "150", "--duration", "16", "--seed", "21"
        )
        harness.wait_stored(300)
        current = eventually(lambda: (watcher.grants() or [None])[-1], timeout=30)
        signed_grant = next(r for r in _raw_records(harness) if b'"type":"grant"' in r[0])
        started = time.time()
        for value, headers in attacks(name, current):
            producer.send(harness.topics.token, value=value, headers=headers, partition=0)
        producer.send(harness.topics.token, value=signed_grant[0], headers=signed_grant[1], partition=0)  # a replay
        producer.flush(30)
        eventually(lambda: not simulator.alive, timeout=120, message="the simulator never finished")
        summary = json.loads(summary_path.read_text())

        assert_exactly_once(harness, summary)
        grants = [g for g in watcher.grants() if _signed(harness, g)]
    assert max(g.epoch for g in grants) < 1_000_000 and fence(harness)[0] < 1_000_000
    assert metric(worker, "telering_worker_epoch") < 1_000_000
    assert max_wait_s(harness, started) <= TTL_S, "a receiver waited longer than one grant TTL"
    counted = skipped(worker)
    assert counted["unsigned"] + counted["too_large"] >= 12 and counted["bad_signature"] >= 6, counted
    assert worker.alive and "Traceback" not in worker.log_text()

    # a new worker re-reads the topic's history, attacks included, and takes over when the first stops
    second = harness.start_worker()
    harness.wait_worker_ready(second)
    worker.stop()
    more = harness.simulate(
        "--sensors", "4", "--count", "200", "--rate", "0", "--seed", "22", "--sensor-prefix", "late-"
    )
    assert_exactly_once(harness, summary, more)
    assert second.alive


def _raw_records(harness) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    from testkit.pipeline import read_records

    return [(r.value, list(r.headers)) for r in read_records(harness.bootstrap, harness.topics.token)]
