"""The Kafka sink against the session's real broker (tests/support/kafka.py) and a real web node:
every transition on `telering-alerts` once, keyed `<rule>/<sensor_id>`, the JSON object of the
history, also those recorded while the broker could not be reached by the sink."""

from __future__ import annotations

import asyncio
import json

from protocol.settings import Settings
from protocol.topic_admin import ensure_topics
from protocol.topics import Topics
from testkit.pipeline import read_records
from tests.alerts.test_api import RULES, write_rules
from tests.support.waiting import async_eventually
from tests.web_node.writes import Writer, reading_at

T0 = 1_764_000_000.0


async def test_every_transition_is_published_once(kafka_broker, topic_prefix, web_node_factory, http, tmp_path):
    settings = Settings(KAFKA_BOOTSTRAP=kafka_broker.bootstrap, TELERING_TOPIC_PREFIX=topic_prefix)
    ensure_topics(settings)
    topic = Topics.with_prefix(topic_prefix).alerts
    node = await web_node_factory(
        telering_alert_rules=write_rules(tmp_path / "rules.yaml", RULES),
        kafka_bootstrap=kafka_broker.bootstrap,
        telering_topic_prefix=topic_prefix,
    )
    writer = Writer(http, node)
    temperatures = [70, 85, 86, 87, 74, 90, 91, 92, 60]  # pending, firing, ok, pending, firing, ok
    await writer.store([reading_at("boiler-1", i, T0 + i, temperature=t) for i, t in enumerate(temperatures)])
    await writer.store([reading_at("fridge", 0, T0, battery=5.0), reading_at("fridge", 1, T0 + 1, battery=50.0)])

    async with http.get(f"{node.url}/api/v1/alerts/history") as resp:
        history = (await resp.json())["transitions"]
    assert len(history) == 8

    async def published() -> list:  # read in a thread: the web node shares this event loop
        records = await asyncio.to_thread(lambda: list(read_records(kafka_broker.bootstrap, topic)))
        assert len(records) >= len(history)
        return records

    records = await async_eventually(published, timeout=30)
    assert len(records) == len(history)
    values = [json.loads(r.value) for r in records]
    assert sorted(values, key=lambda v: v["id"]) == sorted(history, key=lambda v: v["id"])
    assert [r.key.decode() for r in records] == [f"{v['rule']}/{v['sensor_id']}" for v in values]
