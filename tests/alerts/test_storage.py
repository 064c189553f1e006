"""Alerts judged in the store transaction, on SQLite and on PostgreSQL (tests/support/postgres.py):
transitions and states are written with the batch, replays judge nothing, a refused grant records
nothing, and the state survives reopening the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from web_node.alerts.rules import parse_rules
from web_node.alerts.store import AlertJudge
from web_node.write.fence import GrantSuperseded
from web_node.write.storage import Storage

RULES = parse_rules(
    """
rules:
  - name: hot
    severity: critical
    quantity: temperature
    above: 80
    clear: 75
"""
)
T0 = 1_800_000_000.0


def reading(seq: int, temperature: float, sensor: str = "s1") -> dict:
    ts = datetime.fromtimestamp(T0 + seq, UTC)
    return {
        "sensor_id": sensor,
        "seq": seq,
        "ts": ts,
        "temperature": temperature,
        "humidity": 50.0,
        "pressure": 1000.0,
        "battery": 90.0,
    }


async def _history(storage: Storage) -> list[tuple]:
    async with storage.reader.connect() as conn:
        rows = await conn.execute(
            text("SELECT rule, sensor_id, from_state, to_state, ts FROM alert_transitions ORDER BY seq")
        )
        return [tuple(r) for r in rows]


async def _opened(url: str) -> Storage:
    storage = Storage(url, alerts=AlertJudge(lambda: RULES))
    await storage.open()
    return storage


async def test_transitions_are_written_in_the_store_transaction(database_url):
    storage = await _opened(database_url)
    told = []
    storage.on_transitions.append(told.extend)
    try:
        result = await storage.store([reading(0, 70), reading(1, 85), reading(2, 79)], epoch=1, receiver=0)
        assert [(t.from_state, t.to_state, t.ts) for t in result.transitions] == [("ok", "firing", T0 + 1)]
        assert told == result.transitions
        replay = await storage.store([reading(1, 85), reading(2, 79)], epoch=1, receiver=0)
        assert replay.transitions == [] and replay.duplicates == 2
        with pytest.raises(GrantSuperseded):
            await storage.store([reading(3, 10)], epoch=0, receiver=0)
        assert await _history(storage) == [("hot", "s1", "ok", "firing", T0 + 1)]
    finally:
        await storage.close()
    again = await _opened(database_url)  # the state survives: the next clear reading resolves
    try:
        result = await again.store([reading(3, 90), reading(4, 74)], epoch=2, receiver=0)
        assert [(t.from_state, t.to_state) for t in result.transitions] == [("firing", "ok")]
        assert len(await _history(again)) == 2
    finally:
        await again.close()


async def test_a_failed_transaction_records_no_transition(database_url):
    storage = await _opened(database_url)
    try:
        bad = [reading(0, 99), {**reading(1, 99), "sensor_id": None}]  # the insert fails: NOT NULL
        with pytest.raises(Exception):  # noqa: B017 - either driver's error, wrapped as StorageError
            await storage.store(bad, epoch=1, receiver=0)
        assert await _history(storage) == []
        async with storage.reader.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM alert_state"))).scalar_one() == 0
    finally:
        await storage.close()


async def test_without_rules_nothing_is_judged(database_url):
    storage = Storage(database_url)
    await storage.open()
    try:
        result = await storage.store([reading(0, 99)], epoch=1, receiver=0)
        assert result.transitions == [] and await _history(storage) == []
    finally:
        await storage.close()
