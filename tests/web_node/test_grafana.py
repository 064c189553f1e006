"""The Grafana Infinity queries of docs/grafana.md, sent as Grafana sends them (its variables
filled in) with a reader token, to a real web node holding readings; on SQLite and PostgreSQL.
The answers must carry the fields the doc's root selectors and columns use."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from yarl import URL

from protocol import reader_tokens
from protocol.readings import QUANTITIES
from tests.web_node.writes import Writer, iso, reading_at

DOC = Path(__file__).resolve().parents[2] / "docs" / "grafana.md"
HOST = "https://web-node:8080"
STATS = "/api/v1/stats?since=${__from}&until=${__to}&bucket=${__interval}"
LATEST = "/api/v1/readings/latest?limit=100"

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z, a multiple of 300: the picker's "from"
T1 = T0 + 3600  # the picker's "to"
SENSORS = ("attic", "cellar", "roof")
STEP_S = 30  # one reading per sensor every 30 s: 10 in each 5-minute bucket


def grafana(template: str, **variables: str) -> str:
    """Fill `${name}` and `${name:format}` as Grafana does (the values given per spelling)."""
    return re.sub(r"\$\{([^}]+)\}", lambda m: variables[m.group(1)], template)


def picker(fmt: str) -> dict[str, str]:
    """The time picker's range T0..T1 in one of the formats Grafana offers for ${__from}/${__to}."""
    if fmt == "ms":  # ${__from}: epoch milliseconds, Grafana's default
        return {"__from": str(int(T0 * 1000)), "__to": str(int(T1 * 1000))}
    if fmt == "seconds":  # ${__from:date:seconds}
        return {"__from": str(int(T0)), "__to": str(int(T1))}
    # ${__from:date:iso}: RFC 3339 with milliseconds
    return {name: _iso_ms(value) for name, value in (("__from", T0), ("__to", T1))}


def _iso_ms(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(unix_s * 1000) % 1000:03d}Z"


def stats_rows(body: dict) -> list[dict]:
    """What the doc's JSONata root selector makes of a stats answer: one row per sensor and bucket."""
    return [
        {"t": p["t"], "sensor_id": s["sensor_id"], **{q: p[q]["mean"] for q in QUANTITIES}}
        for s in body["series"]
        for p in s["points"]
    ]


@pytest.fixture
async def node_with_readings(web_node_factory, http, tmp_path):
    """A web node whose reads need a reader token (Infinity's Bearer auth), holding an hour of
    readings of three sensors inside the range and a few outside it."""
    readers_file = tmp_path / "telering.readers"
    token = reader_tokens.add_reader(readers_file, "grafana")
    node = await web_node_factory(web_node_read_auth="required", telering_readers_file=readers_file)
    inside = [
        reading_at(sensor, i, T0 + i * STEP_S, temperature=float(i % 40), battery=90.0)
        for sensor in SENSORS
        for i in range(int((T1 - T0) / STEP_S))
    ]
    outside = [reading_at(sensor, 10_000, T1 + 60) for sensor in SENSORS] + [reading_at("early", 0, T0 - 600)]
    assert await Writer(http, node).store(inside + outside) == len(inside) + len(outside)
    return node, token


async def get(http, node, token: str | None, path: str) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(URL(node.url + path, encoded=False), headers=headers) as resp:
        return resp.status, await resp.json()


def test_the_doc_shows_these_queries():
    doc = DOC.read_text(encoding="utf-8")
    assert HOST + STATS in doc and HOST + LATEST in doc
    assert "Bearer" in doc and "${__from:date:seconds}" in doc


@pytest.mark.parametrize("fmt", ["ms", "seconds", "iso"])
async def test_stats_over_the_picker_range(node_with_readings, http, fmt):
    node, token = node_with_readings
    status, body = await get(http, node, token, grafana(STATS, **picker(fmt), __interval="5m"))
    assert status == 200, body
    assert body["bucket_s"] == 300
    rows = stats_rows(body)
    # 12 five-minute buckets per sensor in [T0, T1); the readings outside the range are left out
    assert [(r["sensor_id"], r["t"]) for r in rows] == [
        (sensor, iso(T0 + 300 * k)) for sensor in SENSORS for k in range(12)
    ]
    for k, row in enumerate(rows[:12]):  # temperatures i % 40 for i in 10k..10k+9
        expected = sum((10 * k + j) % 40 for j in range(10)) / 10
        assert row["temperature"] == pytest.approx(expected)
        assert row["battery"] == pytest.approx(90.0)
        assert all(isinstance(row[q], float | int) for q in QUANTITIES)
    assert all(p["count"] == 10 for s in body["series"] for p in s["points"])


async def test_latest_readings_table(node_with_readings, http):
    node, token = node_with_readings
    status, body = await get(http, node, token, LATEST)
    assert status == 200, body
    rows = body["readings"]
    assert len(rows) == 100
    columns = {"sensor_id": str, "seq": int, "ts": str, **dict.fromkeys(QUANTITIES, float)}
    for row in rows:
        assert set(row) == set(columns)
        assert all(isinstance(row[name], kind) for name, kind in columns.items())
    stamps = [row["ts"] for row in rows]
    assert stamps == sorted(stamps, reverse=True) and stamps[0] == iso(T1 + 60)


async def test_without_the_data_sources_token_nothing_is_read(node_with_readings, http):
    node, _ = node_with_readings
    for path in (grafana(STATS, **picker("ms"), __interval="5m"), LATEST):
        status, body = await get(http, node, None, path)
        assert (status, body["error"]) == (401, "reader_token_missing")


async def test_a_grafana_interval_too_fine_for_the_range_names_bucket(node_with_readings, http):
    node, token = node_with_readings
    status, body = await get(http, node, token, grafana(STATS, **picker("ms"), __interval="100ms"))
    assert (status, body["error"], body["parameter"]) == (400, "invalid_parameter", "bucket")
