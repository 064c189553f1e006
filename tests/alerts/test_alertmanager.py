"""Alertmanager fed the way Prometheus feeds it, against the session's real Alertmanager
(tests/support/alertmanager.py) and a real web node: a firing alert arrives and stays active,
its resolution reaches the webhook receiver, and an Alertmanager that was down gets every
still-firing alert and every resolution once it is back."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.alerts.test_api import write_rules
from tests.support.waiting import async_eventually
from tests.web_node.writes import Writer, reading_at

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
RULES = """\
rules:
  - name: am-hot
    sensors: ["am-*"]
    severity: critical
    quantity: temperature
    above: 80
    clear: 75
"""


async def _post_errors(http, node) -> float:
    async with http.get(f"{node.url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith('telering_alertmanager_posts_total{outcome="error"}'):
                return float(line.split()[-1])
    return 0.0


async def test_down_then_back(alertmanager, web_node_factory, http, tmp_path):
    now = time.time() - 60
    node = await web_node_factory(
        telering_alert_rules=write_rules(tmp_path / "rules.yaml", RULES),
        telering_alerts_kafka=False,
        telering_alertmanager_url=alertmanager.url,
        telering_alertmanager_interval=2,
    )
    writer = Writer(http, node)
    webhook = alertmanager.webhook
    await writer.store([reading_at("am-1", 0, now, temperature=90.0)])

    async def firing(sensor: str) -> bool:
        active = await asyncio.to_thread(alertmanager.alerts, alertname="am-hot", sensor_id=sensor)
        assert [a["status"]["state"] for a in active] == ["active"]
        assert active[0]["labels"]["severity"] == "critical" and active[0]["annotations"]["summary"]
        assert any(a["status"] == "firing" for a in webhook.alerts(sensor_id=sensor))
        return True

    await async_eventually(lambda: firing("am-1"), timeout=30)

    await asyncio.to_thread(alertmanager.stop)
    try:
        await writer.store(
            [reading_at("am-1", 1, now + 1, temperature=70.0), reading_at("am-2", 0, now + 1, temperature=95.0)]
        )
        await async_eventually(lambda: _post_errors(http, node), timeout=30)  # it was tried, and failed
    finally:
        await asyncio.to_thread(alertmanager.start)

    await async_eventually(lambda: firing("am-2"), timeout=60)

    def resolved() -> bool:
        assert any(a["status"] == "resolved" for a in webhook.alerts(sensor_id="am-1"))
        return True

    await async_eventually(resolved, timeout=60)
    assert len([a for a in webhook.alerts(sensor_id="am-1") if a["status"] == "resolved"]) == 1
