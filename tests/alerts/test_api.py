"""The alert read API, live socket, metrics and rules reload on a real web node (loopback port,
SQLite file and PostgreSQL database: tests/support/web.py, tests/support/postgres.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.support.waiting import async_eventually
from tests.web_node.writes import Writer, iso, reading_at
from web_node.alerts.rules import RulesError
from web_node.read import params

T0 = 1_764_000_000.0
RULES = """\
rules:
  - name: hot
    sensors: ["boiler-*"]
    severity: critical
    quantity: temperature
    above: 80
    clear: 75
    for: 2s
    summary: "{sensor_id} at {value} (limit {threshold})"
  - name: flat
    severity: warning
    quantity: battery
    below: 10
"""


def write_rules(path: Path, text: str) -> Path:
    path.write_text(text)
    stamp = path.stat().st_mtime_ns + 1_000_000_000  # a new mtime even within the file system's granularity
    os.utime(path, ns=(stamp, stamp))
    return path


async def _get(http, node, path: str, **params) -> tuple[int, dict]:
    async with http.get(f"{node.url}{path}", params=params) as resp:
        return resp.status, await resp.json()


async def test_current_history_rules_and_live(web_node_factory, http, tmp_path):
    node = await web_node_factory(
        telering_alert_rules=write_rules(tmp_path / "rules.yaml", RULES), telering_alerts_kafka=False
    )
    writer = Writer(http, node)
    async with http.ws_connect(f"{node.url}/api/v1/alerts/live") as ws:
        await writer.store([reading_at("boiler-1", i, T0 + i, temperature=t) for i, t in enumerate([70, 85, 86, 87])])
        await writer.store([reading_at("fridge", 0, T0, battery=5.0)])
        pushed = [json.loads((await ws.receive(timeout=10)).data) for _ in range(3)]
    assert [(p["rule"], p["sensor_id"], p["from"], p["to"]) for p in pushed] == [
        ("hot", "boiler-1", "ok", "pending"),
        ("hot", "boiler-1", "pending", "firing"),
        ("flat", "fridge", "ok", "firing"),
    ]
    status, body = await _get(http, node, "/api/v1/alerts")
    assert status == 200
    assert [(a["rule"], a["sensor_id"], a["state"], a["severity"]) for a in body["alerts"]] == [
        ("flat", "fridge", "firing", "warning"),
        ("hot", "boiler-1", "firing", "critical"),
    ]
    hot = body["alerts"][1]
    assert (hot["since"], hot["value"], hot["threshold"], hot["summary"]) == (
        iso(T0 + 3),
        87.0,
        80.0,
        "boiler-1 at 87.0 (limit 80.0)",
    )
    assert (await _get(http, node, "/api/v1/alerts", state="pending"))[1] == {"alerts": []}
    assert len((await _get(http, node, "/api/v1/alerts", sensor="fridge"))[1]["alerts"]) == 1
    assert len((await _get(http, node, "/api/v1/alerts", rule="hot", state="firing"))[1]["alerts"]) == 1

    status, page = await _get(http, node, "/api/v1/alerts/history", limit="2")
    assert status == 200 and [t["to"] for t in page["transitions"]] == ["firing", "pending"]
    assert page["transitions"][0]["id"] == pushed[1]["id"] and page["next_until"] is not None
    _, rest = await _get(http, node, "/api/v1/alerts/history", limit="2", until=page["next_until"])
    assert [t["sensor_id"] for t in rest["transitions"]] == ["fridge"] and rest["next_until"] is None
    _, hot_only = await _get(http, node, "/api/v1/alerts/history", rule="hot")
    assert {t["rule"] for t in hot_only["transitions"]} == {"hot"}

    _, rules = await _get(http, node, "/api/v1/alerts/rules")
    assert [r["name"] for r in rules["rules"]] == ["hot", "flat"] and rules["rules"][0]["for"] == 2.0

    async with http.get(f"{node.url}/metrics") as resp:
        text = await resp.text()
    assert 'telering_alert_transitions_total{rule="hot",to="firing"} 1.0' in text
    await async_eventually(lambda: _gauge(http, node), timeout=10)


async def _gauge(http, node) -> bool:
    async with http.get(f"{node.url}/metrics") as resp:
        return 'telering_alerts{rule="hot",severity="critical",state="firing"} 1.0' in await resp.text()


async def test_history_pages_keep_every_transition_of_a_shared_ts(web_node_factory, http, tmp_path):
    # five batteries run flat at one instant: a page of two must not lose three (`until` is exclusive)
    node = await web_node_factory(
        telering_alert_rules=write_rules(tmp_path / "rules.yaml", RULES), telering_alerts_kafka=False
    )
    flat = [reading_at(f"cell-{i}", 0, T0 + 60, battery=5.0) for i in range(5)]
    await Writer(http, node).store([reading_at("early", 0, T0, battery=5.0), *flat])
    seen, until, pages = [], None, 0
    while True:
        older = {"until": until} if until else {}
        status, page = await _get(http, node, "/api/v1/alerts/history", limit="2", **older)
        assert status == 200
        seen += [t["sensor_id"] for t in page["transitions"]]
        pages, until = pages + 1, page["next_until"]
        if until is None:
            break
    assert sorted(seen) == sorted(["early", *(f"cell-{i}" for i in range(5))]) and pages == 2


@pytest.mark.parametrize(
    ("query", "parameter"),
    [({"state": "ok"}, "state"), ({"rule": "a b"}, "rule"), ({"sensor": "??"}, "sensor"), ({"x": "1"}, "x")],
)
async def test_bad_parameters_are_clear_errors(web_node_factory, http, tmp_path, query, parameter):
    node = await web_node_factory(
        telering_alert_rules=write_rules(tmp_path / "rules.yaml", RULES), telering_alerts_kafka=False
    )
    status, body = await _get(http, node, "/api/v1/alerts", **query)
    assert status == 400 and body["error"] == "invalid_parameter" and body["parameter"] == parameter


async def test_rules_edited_while_running(web_node_factory, http, tmp_path):
    path = write_rules(tmp_path / "rules.yaml", RULES)
    node = await web_node_factory(telering_alert_rules=path, telering_alerts_kafka=False)
    writer = Writer(http, node)
    await writer.store([reading_at("fridge", 0, T0, battery=5.0)])
    assert len((await _get(http, node, "/api/v1/alerts"))[1]["alerts"]) == 1

    write_rules(path, RULES + "  - name: broken\n    severity: loud\n")  # a bad edit: the last good rules stay
    await async_eventually(lambda: _reload_failures(http, node, 1), timeout=15)
    assert [r["name"] for r in (await _get(http, node, "/api/v1/alerts/rules"))[1]["rules"]] == ["hot", "flat"]

    write_rules(path, RULES.replace("below: 10", "below: 20").replace("name: hot", "name: warm"))
    await async_eventually(lambda: _rule_names(http, node, ["warm", "flat"]), timeout=15)
    await writer.store([reading_at("boiler-2", 0, T0, temperature=99.0), reading_at("fridge", 1, T0 + 1, battery=15)])
    _, body = await _get(http, node, "/api/v1/alerts")
    assert [(a["rule"], a["sensor_id"], a["state"]) for a in body["alerts"]] == [
        ("flat", "fridge", "firing"),  # 15 is still below the new threshold 20
        ("warm", "boiler-2", "pending"),
    ]


async def _reload_failures(http, node, n: int) -> bool:
    async with http.get(f"{node.url}/metrics") as resp:
        return f"telering_alert_rules_reload_failures_total {n:.1f}" in await resp.text()


async def _rule_names(http, node, names: list[str]) -> bool:
    return [r["name"] for r in (await _get(http, node, "/api/v1/alerts/rules"))[1]["rules"]] == names


async def test_a_bad_rules_file_is_a_start_up_error(web_node_factory, tmp_path):
    path = write_rules(tmp_path / "rules.yaml", "rules:\n  - name: x\n    severity: loud\n    silent_for: 1m\n")
    with pytest.raises(RulesError) as caught:
        await web_node_factory(telering_alert_rules=path)
    assert caught.value.line == 3 and "severity 'loud'" in str(caught.value)


async def test_without_rules_the_routes_answer_empty(web_node_factory, http):
    node = await web_node_factory()
    await Writer(http, node).store([reading_at("boiler-1", 0, T0, temperature=99.0)])
    assert (await _get(http, node, "/api/v1/alerts"))[1] == {"alerts": []}
    assert (await _get(http, node, "/api/v1/alerts/rules"))[1] == {"rules": []}
    assert (await _get(http, node, "/api/v1/alerts/history"))[1] == {"transitions": [], "next_until": None}


SILENT = """\
rules:
  - name: quiet
    sensors: ["quiet-*"]
    severity: warning
    silent_for: 2s
"""


async def test_a_silent_sensor_fires_and_its_next_reading_resolves(web_node_factory, http, tmp_path):
    node = await web_node_factory(
        telering_alert_rules=write_rules(tmp_path / "rules.yaml", SILENT), telering_alerts_kafka=False
    )
    writer = Writer(http, node)
    sent_at = time.time()
    await writer.store([reading_at("quiet-1", 0, sent_at - 1)])

    async def fired() -> dict:
        alerts = (await _get(http, node, "/api/v1/alerts", state="firing"))[1]["alerts"]
        assert [(a["rule"], a["sensor_id"]) for a in alerts] == [("quiet", "quiet-1")]
        return alerts[0]

    alert = await async_eventually(fired, timeout=10)
    seen_at = time.time()
    assert alert["value"] is None and alert["threshold"] == 2.0
    _, history = await _get(http, node, "/api/v1/alerts/history")
    (fire,) = history["transitions"]
    fired_ts = params.parse_instant(fire["ts"])
    assert sent_at + 2 <= fired_ts <= params.parse_instant(fire["at"]) <= seen_at
    assert (fire["from"], fire["to"], fire["value"]) == ("ok", "firing", None)

    await writer.store([reading_at("quiet-1", 1, time.time())])
    assert (await _get(http, node, "/api/v1/alerts"))[1] == {"alerts": []}
    _, history = await _get(http, node, "/api/v1/alerts/history")
    assert [(t["from"], t["to"]) for t in history["transitions"]] == [("firing", "ok"), ("ok", "firing")]
