"""The engine inside a batch's transaction, on either backend: load the states of the sensors
the batch touches, judge, write what changed. Thin on purpose: the rules live in `engine`.

SQLite runs this on the writer thread (sqlite3, `?` placeholders); PostgreSQL in the COPY
transaction on the asyncpg connection (`$n`), after the fence row's update, which serialises
concurrent writers, so two web nodes never judge the same sensor at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from web_node.alerts.engine import AlertState, Grouped, Judgement, Transition, group, judge
from web_node.alerts.rules import RuleSet

Row = Mapping[str, Any]
_STATE_COLUMNS = "rule, sensor_id, state, since, pending_since, value, threshold"
_TRANSITION_COLUMNS = "id, rule, sensor_id, severity, from_state, to_state, value, threshold, ts, at, summary"
_SQLITE_CHUNK = 500  # sensor ids per IN (...): well under SQLite's variable limit


def _sql(style: str) -> dict[str, str]:
    """The statements, with `?` (sqlite3) or `$n` (asyncpg) placeholders."""

    def marks(n: int) -> str:
        return ", ".join("?" * n) if style == "qmark" else ", ".join(f"${i}" for i in range(1, n + 1))

    return {
        "upsert_state": f"INSERT INTO alert_state ({_STATE_COLUMNS}) VALUES ({marks(7)}) "
        "ON CONFLICT (rule, sensor_id) DO UPDATE SET state = excluded.state, since = excluded.since, "
        "pending_since = excluded.pending_since, value = excluded.value, threshold = excluded.threshold",
        "upsert_sensor": f"INSERT INTO alert_sensor (sensor_id, last_ts, stored_at) VALUES ({marks(3)}) "
        "ON CONFLICT (sensor_id) DO UPDATE SET last_ts = excluded.last_ts, stored_at = excluded.stored_at",
        "insert_transition": f"INSERT INTO alert_transitions ({_TRANSITION_COLUMNS}) VALUES ({marks(11)})",
    }


SQLITE_SQL, PG_SQL = _sql("qmark"), _sql("numeric")


def newly_stored(rows: Sequence[Row], inserted: set[tuple[str, int]] | None) -> Sequence[Row]:
    """The rows a transaction stored: all (`inserted` None), else the first copy of each key inserted."""
    if inserted is None:
        return rows
    keys, new = set(inserted), []
    for row in rows:
        key = (row["sensor_id"], row["seq"])
        if key in keys:
            keys.discard(key)
            new.append(row)
    return new


def state_params(states: Sequence[AlertState]) -> list[tuple]:
    return [(s.rule, s.sensor_id, s.state, s.since, s.pending_since, s.value, s.threshold) for s in states]


def transition_params(transitions: Sequence[Transition]) -> list[tuple]:
    return [
        (t.id, t.rule, t.sensor_id, t.severity, t.from_state, t.to_state, t.value, t.threshold, t.ts, t.at, t.summary)
        for t in transitions
    ]


def _states(records) -> dict[tuple[str, str], AlertState]:
    return {(r[0], r[1]): AlertState(*r) for r in records}


class AlertJudge:
    """Judges each batch with the rules in force (`current()`, read once per batch)."""

    def __init__(self, current: Callable[[], RuleSet]) -> None:
        self.current = current

    def judge_sqlite(self, conn: sqlite3.Connection, rows: Sequence[Row], inserted, now: float) -> list[Transition]:
        """`rows` the batch, `inserted` the keys stored (None: all), as the insert reported them."""
        ruleset = self.current()
        rows = newly_stored(rows, inserted)
        if not rows or not ruleset.rules:
            return []
        grouped = group(rows)
        ids = list(grouped)
        states: dict[tuple[str, str], AlertState] = {}
        last: dict[str, float] = {}
        for i in range(0, len(ids), _SQLITE_CHUNK):
            chunk = ids[i : i + _SQLITE_CHUNK]
            marks = ", ".join("?" * len(chunk))
            records = conn.execute(f"SELECT {_STATE_COLUMNS} FROM alert_state WHERE sensor_id IN ({marks})", chunk)
            states.update(_states(records))
            last.update(
                conn.execute(f"SELECT sensor_id, last_ts FROM alert_sensor WHERE sensor_id IN ({marks})", chunk)
            )
        out = self._judge(ruleset, grouped, states, last, now)
        if out.states:
            conn.executemany(SQLITE_SQL["upsert_state"], state_params(out.states))
        conn.executemany(SQLITE_SQL["upsert_sensor"], [(s, ts, now) for s, ts in out.sensors.items()])
        if out.transitions:
            conn.executemany(SQLITE_SQL["insert_transition"], transition_params(out.transitions))
        return out.transitions

    async def judge_pg(self, conn, rows: Sequence[Row], inserted, now: float) -> list[Transition]:
        """`conn`: the SQLAlchemy connection of the open batch transaction (asyncpg underneath)."""
        ruleset = self.current()
        rows = newly_stored(rows, inserted)
        if not rows or not ruleset.rules:
            return []
        driver = (await conn.get_raw_connection()).driver_connection
        grouped = group(rows)
        ids = list(grouped)
        records = await driver.fetch(f"SELECT {_STATE_COLUMNS} FROM alert_state WHERE sensor_id = ANY($1::text[])", ids)
        states = _states(tuple(r) for r in records)
        last = dict(
            tuple(r)
            for r in await driver.fetch(
                "SELECT sensor_id, last_ts FROM alert_sensor WHERE sensor_id = ANY($1::text[])", ids
            )
        )
        out = self._judge(ruleset, grouped, states, last, now)
        if out.states:
            await driver.executemany(PG_SQL["upsert_state"], state_params(out.states))
        await driver.executemany(PG_SQL["upsert_sensor"], [(s, ts, now) for s, ts in out.sensors.items()])
        if out.transitions:
            await driver.executemany(PG_SQL["insert_transition"], transition_params(out.transitions))
        return out.transitions

    @staticmethod
    def _judge(ruleset: RuleSet, grouped: Grouped, states, last, now: float) -> Judgement:
        return judge(ruleset, grouped, states, last, now)
