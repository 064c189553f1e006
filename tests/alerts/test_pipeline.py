"""Alerting through the whole pipeline: the session's real broker, worker and web node processes
(testkit/pipeline.py, one pipeline for the module), a real Alertmanager (tests/support/alertmanager.py)
and readings produced by librdkafka (confluent-kafka), not by our own producer.

- a threshold with `for` and hysteresis: a value oscillating around the limit fires once, resolves once;
- a silent sensor fires, and its next reading resolves it;
- the worker killed with kill -9 mid-stream: the history equals one crash-free pass of the pure
  engine over the stored readings, and the alerts topic carries every transition;
- a bad rules file is a start-up error (exit 2) naming TELERING_ALERT_RULES and the line.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from collections import Counter

import pytest
import requests

from testkit.pipeline import PipelineHarness, read_records
from testkit.processes import python_argv
from testkit.waiting import eventually
from web_node.alerts.engine import group, judge
from web_node.alerts.rules import parse_rules

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RULES = """\
rules:
  - name: osc-hot
    sensors: ["osc-*"]
    severity: critical
    quantity: temperature
    above: 80
    clear: 75
    for: 2s
  - name: crash-hot
    sensors: ["crash-*"]
    severity: warning
    quantity: temperature
    above: 80
    clear: 75
    for: 3s
  - name: crash-flat
    sensors: ["crash-*"]
    severity: info
    quantity: battery
    below: 20
  - name: mute
    sensors: ["mute-*"]
    severity: warning
    silent_for: 3s
"""
COLUMNS = ("sensor_id", "seq", "ts", "temperature", "humidity", "pressure", "battery")


@pytest.fixture(scope="module")
def pipeline(kafka_broker, alertmanager, tmp_path_factory):
    harness = PipelineHarness(bootstrap=kafka_broker.bootstrap, workdir=tmp_path_factory.mktemp("alerts-pipeline"))
    rules = harness.workdir / "rules.yaml"
    rules.write_text(RULES)
    harness.rules_path = rules
    try:
        harness.start_web_node(
            env={
                "TELERING_ALERT_RULES": str(rules),
                "TELERING_ALERTMANAGER_URL": alertmanager.url,
                "TELERING_ALERTMANAGER_INTERVAL": "2",
            }
        )
        harness.wait_worker_ready(harness.start_worker())
        yield harness
    finally:
        harness.stop()


def _reading(sensor_id: str, seq: int, ts: float, temperature: float = 20.0, battery: float = 90.0) -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"
    body = {"sensor_id": sensor_id, "seq": seq, "ts": stamp, "temperature": temperature, "humidity": 40.0}
    return json.dumps({**body, "pressure": 1000.0, "battery": battery}).encode()


def _produce(harness: PipelineHarness, messages: list[tuple[str, bytes]], *, per_second: float | None = None) -> None:
    """Produce through librdkafka, keyed by sensor id; `per_second` paces it (a stream, not a burst)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": harness.bootstrap, "acks": "all", "enable.idempotence": True})
    failures: list[str] = []
    started = time.monotonic()
    for i, (key, value) in enumerate(messages):
        producer.produce(
            harness.topics.readings,
            key=key.encode(),
            value=value,
            on_delivery=lambda e, _m: e and failures.append(str(e)),
        )
        producer.poll(0)
        if per_second is not None:
            ahead = i / per_second - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)  # pacing the producer, not synchronising the test
    assert producer.flush(60) == 0 and not failures, failures[:3]


def _stored(harness: PipelineHarness, prefix: str) -> int:
    return harness.query("SELECT count(*) FROM readings WHERE sensor_id LIKE ?", (f"{prefix}%",))[0][0]


def _history(harness: PipelineHarness, prefix: str) -> list[tuple]:
    return harness.query(
        "SELECT id, rule, sensor_id, from_state, to_state, value, ts FROM alert_transitions "
        "WHERE sensor_id LIKE ? ORDER BY seq",
        (f"{prefix}%",),
    )


def _get(harness: PipelineHarness, path: str, **params) -> dict:
    resp = requests.get(f"{harness.web_url}{path}", params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_oscillation_around_the_limit_fires_once_and_resolves_once(pipeline, alertmanager):
    base = time.time() - 100
    temperatures = [70, 85, 86, 87, 79, 81, 78, 82, 76, 84, 77, 70, 72]
    readings = [("osc-1", _reading("osc-1", i, base + i, t)) for i, t in enumerate(temperatures)]
    webhook = alertmanager.webhook

    def notified(status: str) -> bool:
        return [a["status"] for a in webhook.alerts(sensor_id="osc-1")].count(status) == 1

    _produce(pipeline, readings[:4])  # beyond the limit for 2 s of reading time: fires
    eventually(lambda: notified("firing"), timeout=60, message="the webhook receiver did not get the alert")
    _produce(pipeline, readings[4:])  # oscillates above `clear`, then falls to it: resolves once
    eventually(lambda: _stored(pipeline, "osc-") == len(temperatures), timeout=60)
    transitions = [(f, t, v) for _id, _r, _s, f, t, v, _ts in _history(pipeline, "osc-")]
    assert transitions == [("ok", "pending", 85.0), ("pending", "firing", 87.0), ("firing", "ok", 70.0)]
    page = _get(pipeline, "/api/v1/alerts/history", sensor="osc-1")
    assert [t["to"] for t in page["transitions"]] == ["ok", "firing", "pending"]
    eventually(lambda: notified("resolved"), timeout=60, message="the webhook receiver did not get the resolution")
    assert notified("firing")  # and no second firing notification


def test_a_silent_sensor_fires_then_resolves(pipeline):
    _produce(pipeline, [("mute-1", _reading("mute-1", 0, time.time()))])
    eventually(lambda: _stored(pipeline, "mute-") == 1, timeout=60)

    def firing() -> bool:
        alerts = _get(pipeline, "/api/v1/alerts", sensor="mute-1", state="firing")["alerts"]
        return [a["rule"] for a in alerts] == ["mute"]

    eventually(firing, timeout=30)
    _produce(pipeline, [("mute-1", _reading("mute-1", 1, time.time()))])
    eventually(lambda: _get(pipeline, "/api/v1/alerts", sensor="mute-1")["alerts"] == [], timeout=60)
    assert [(f, t) for _i, r, _s, f, t, _v, _ts in _history(pipeline, "mute-")] == [("ok", "firing"), ("firing", "ok")]


def _walk(rng: random.Random, n: int, low: float, high: float) -> list[float]:
    value, out = (low + high) / 2, []
    for _ in range(n):
        value = min(high, max(low, value + rng.choice((-1.5, -1.0, 1.0, 1.5))))
        out.append(round(value, 1))
    return out


def oscillating_stream(prefix: str, sensors: int, per_sensor: int, seed: int = 22) -> list[tuple[str, bytes]]:
    """Readings of `sensors` sensors `prefix`0.. whose temperature and battery walk around the
    crash-* rules' limits (so they cross them many times), interleaved in seq order."""
    rng = random.Random(seed)
    names, base = [f"{prefix}{i}" for i in range(sensors)], time.time() - 3600
    series = {s: (_walk(rng, per_sensor, 60, 95), _walk(rng, per_sensor, 5, 40)) for s in names}
    return [
        (s, _reading(s, seq, base + seq * 0.1, series[s][0][seq], series[s][1][seq]))
        for seq in range(per_sensor)
        for s in names
    ]


def assert_every_transition_once(harness: PipelineHarness, prefix: str, total: int) -> None:
    """Sent = stored; the history equals one crash-free pass of the pure engine over the stored
    readings (no duplicate, no gap); the alerts topic carries every transition id, and a
    duplicate record there carries the same transition as the first."""
    eventually(lambda: _stored(harness, prefix) == total, timeout=120)
    rows = harness.query(
        f"SELECT {', '.join(COLUMNS)} FROM readings WHERE sensor_id LIKE ? ORDER BY ts, seq", (f"{prefix}%",)
    )
    ruleset = parse_rules(RULES)
    expected = judge(ruleset, group(dict(zip(COLUMNS, r, strict=True)) for r in rows), {}, {}, time.time())
    want = Counter((t.rule, t.sensor_id, t.from_state, t.to_state, t.value, t.ts) for t in expected.transitions)
    history = _history(harness, prefix)
    got = Counter((r, s, f, t, v, ts) for _id, r, s, f, t, v, ts in history)
    assert len(expected.transitions) > 20  # the walk crosses the limits many times
    assert got == want and max(got.values()) == 1  # no duplicate, no gap
    assert len({h[0] for h in history}) == len(history), "a transition id recorded twice"

    recorded = {h[0]: (h[1], h[2], h[3], h[4]) for h in history}

    def published() -> dict[str, list[tuple]]:
        seen: dict[str, list[tuple]] = {}
        for record in read_records(harness.bootstrap, harness.topics.alerts):
            t = json.loads(record.value)
            seen.setdefault(t["id"], []).append((t["rule"], t["sensor_id"], t["from"], t["to"]))
        return seen if set(recorded) <= set(seen) else {}

    seen = eventually(published, timeout=60, message="the alerts topic misses transitions")
    for id_, copies in seen.items():
        if id_ in recorded:
            assert set(copies) == {recorded[id_]}, f"record {id_} on the alerts topic differs from the history"


def test_worker_killed_mid_stream_records_every_transition_exactly_once(pipeline):
    messages = oscillating_stream("crash-", sensors=4, per_sensor=2500)
    total = len(messages)
    producing = threading.Thread(target=_produce, args=(pipeline, messages), kwargs={"per_second": 2000})
    producing.start()
    try:
        eventually(lambda: _stored(pipeline, "crash-") >= total // 4, timeout=60)
        worker = pipeline.workers()[-1]
        worker.kill()  # SIGKILL: nothing flushed, nothing committed beyond what was stored
        assert _stored(pipeline, "crash-") < total, "the stream was over before the kill"
        pipeline.wait_worker_ready(pipeline.start_worker())
    finally:
        producing.join()
    assert_every_transition_once(pipeline, "crash-", total)


def test_a_bad_rules_file_is_a_start_up_error(pipeline, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    severity: info\n    quantity: temperature\n    above: hot\n")
    env = {**pipeline.env, "TELERING_ALERT_RULES": str(bad), "WEB_NODE_PORT": "0"}
    done = subprocess.run(python_argv("web_node"), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "TELERING_ALERT_RULES" in done.stderr and "line 5" in done.stderr and "above" in done.stderr
