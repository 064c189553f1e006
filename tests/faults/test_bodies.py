"""Hostile bodies (issue 6, 9): a clear 4xx, nothing partially stored, the server still healthy.

Needs: a real web node process on a loopback port with a real SQLite file (and the session's
Kafka broker only because the pipeline harness names its topics). The grants are valid —
signed with the node's own key — so what is tested is the body, behind authentication.
"""

from __future__ import annotations

import json

import pytest

from tests.faults.hostile import healthy, mint, post
from tests.support.web import make_reading, sensors_of_receiver

pytestmark = pytest.mark.kafka

SID = sensors_of_receiver(0, 4, 1, "body-")[0]


def reading(**overrides: object) -> dict:
    return {**make_reading(SID, 0), **overrides}


def raw_batch(*items: str) -> bytes:
    return ('{"readings":[' + ",".join(items) + "]}").encode()


def with_field(name: str, literal: str) -> str:
    """A reading's JSON with one field's value replaced by a raw JSON literal (NaN, 1e999, …)."""
    return json.dumps(reading(**{name: "__X__"})).replace('"__X__"', literal)


BAD_JSON = [b"", b"{", b'{"readings": [', b"\xff\xfe", b'{"readings": [] } trailing', b"null\x00"]
BAD_SHAPE = [
    b"[]",
    b'"readings"',
    b"{}",
    b'{"readings": {}}',
    b'{"readings": null}',
    json.dumps({"readings": [], "extra": 1}).encode(),
    json.dumps({"Readings": []}).encode(),
]
BAD_ITEMS = {
    "seq as a string": reading(seq="5"),
    "temperature as a string": reading(temperature="21.5"),
    "sensor id as a number": reading(sensor_id=123),
    "ts as a number": reading(ts=1_700_000_000),
    "ts without offset": reading(ts="2024-01-01T00:00:00"),
    "ts not a date": reading(ts="yesterday"),
    "ts far future": reading(ts="2999-01-01T00:00:00Z"),
    "ts year one": reading(ts="0001-01-01T00:00:00+14:00"),
    "ts year 10000": reading(ts="9999-12-31T23:59:59-14:00"),
    "bool seq": reading(seq=True),
    "float seq": reading(seq=1.5),
    "negative seq": reading(seq=-1),
    "huge seq": reading(seq=2**64),
    "temperature too high": reading(temperature=150.0),
    "humidity negative": reading(humidity=-0.1),
    "pressure too low": reading(pressure=5.0),
    "battery too high": reading(battery=100.5),
    "unknown field": {**reading(), "junk": 1},
    "missing field": {k: v for k, v in reading().items() if k != "humidity"},
    "a list instead of a reading": [1, 2, 3],
    "huge sensor id": reading(sensor_id="s" * 10_000),
    "65-char sensor id": reading(sensor_id="s" * 65),
    "empty sensor id": reading(sensor_id=""),
    "SQL quote": reading(sensor_id="x'; DROP TABLE readings;--"),
    "SQL or": reading(sensor_id="1 OR 1=1"),
    "SQL comment": reading(sensor_id="sensor-1/*"),
    "percent": reading(sensor_id="sensor%"),
    "unicode hyphen": reading(sensor_id="sensor\u20101"),
    "cyrillic s": reading(sensor_id="\u0455ensor-1"),
    "zero-width space": reading(sensor_id="sensor-1\u200b"),
    "fullwidth digit": reading(sensor_id="sensor-\uff11"),
    "right-to-left override": reading(sensor_id="\u202esensor-1"),
    "trailing newline": reading(sensor_id="sensor-1\n"),
    "NUL byte": reading(sensor_id="sensor-1\x00"),
    "combining accent": reading(sensor_id="sensor-e\u0301"),
}
NON_FINITE = {
    "NaN": with_field("temperature", "NaN"),
    "Infinity": with_field("humidity", "Infinity"),
    "-Infinity": with_field("pressure", "-Infinity"),
    "overflowing float": with_field("battery", "1e999"),
}


@pytest.fixture
def web_node(pipeline_factory):
    harness = pipeline_factory(partitions=4)
    proc = harness.start_web_node()
    yield harness
    assert proc.alive, "the web node must survive every hostile body"


def test_hostile_bodies_get_a_clear_4xx_and_store_nothing(web_node):
    harness, grant = web_node, mint(web_node, 0, 1)
    outcomes = {}
    for body in BAD_JSON:
        outcomes[repr(body)] = post(harness.web_url, body, grant)
    for body in BAD_SHAPE:
        outcomes[repr(body)] = post(harness.web_url, body, grant)
    for name, item in BAD_ITEMS.items():
        # the bad item last, after valid ones: the whole batch is refused, not its prefix stored
        valid = [make_reading(SID, seq) for seq in range(1, 50)]
        outcomes[name] = post(harness.web_url, {"readings": [*valid, item]}, grant)
    for name, item in NON_FINITE.items():
        outcomes[name] = post(harness.web_url, raw_batch(json.dumps(reading(seq=1)), item), grant)

    for name, (status, body) in outcomes.items():
        assert 400 <= status < 500, f"{name}: {status} {body}"
        assert set(body) >= {"error", "detail"}, f"{name}: {body}"
    for body in BAD_JSON:
        assert outcomes[repr(body)][1]["error"] == "invalid_json", body
    for body in BAD_SHAPE:
        assert outcomes[repr(body)][1]["error"] in ("invalid_body", "invalid_readings"), body
    for name in BAD_ITEMS:
        status, body = outcomes[name]
        assert (status, body["error"]) == (422, "invalid_readings"), f"{name}: {body}"
        assert [item["index"] for item in body["items"]] == [49], name
    for name in NON_FINITE:
        assert outcomes[name][1]["error"] in ("invalid_json", "invalid_readings"), name
    assert harness.stored() == 0 and healthy(harness)


def test_oversized_bodies_are_refused_413(web_node):
    harness, grant = web_node, mint(web_node, 0, 1)
    padding = (
        b'{"readings":[' + json.dumps(make_reading(SID, 0)).encode() + b"]," + b'"pad":"' + b"x" * (10 << 20) + b'"}'
    )
    many = {"readings": [make_reading(SID, seq) for seq in range(100_000)]}
    for body in (padding, many):
        status, answer = post(harness.web_url, body, grant)
        assert (status, answer.get("error")) == (413, "too_large"), answer
    assert harness.stored() == 0 and healthy(harness)
    # still serving: a sane batch right after is stored
    assert post(harness.web_url, {"readings": [make_reading(SID, seq) for seq in range(10)]}, grant)[0] == 200
    assert harness.stored() == 10
