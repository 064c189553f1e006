"""Exactly-once, counted where a double can happen, for fault scenarios, cluster scenarios and benchmarks.

`readings` has a unique key on (sensor_id, seq), so its rows can never hold a double: counting
rows against distinct keys proves nothing. A reading can be counted twice elsewhere: by the web
node, which reports what it stored in each 200 answer (summed in its `/metrics`), and in the
rollups and the per-sensor summary, which the insert's transaction merges by adding counts (a
replay applied twice would add them twice). So `check` compares each of those with the raw rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from testkit.waiting import eventually

Query = Callable[[str], Iterable[Iterable[Any]]]  # rows of one SQL statement

ROLLUPS = (("readings_1m", 60), ("readings_1h", 3600))  # table, bucket width in seconds
_STORED = re.compile(r"^telering_readings_stored_total (\S+)$", re.M)


@dataclass
class ScenarioResult:
    scenario: str
    sent: int
    stored: int
    lost: int
    duplicated: int  # readings counted more than once: by the web node or in a rollup
    recovery_s: float | None
    evidence: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """What `python -m benchmarks.faults` writes per scenario."""
        return {k: v for k, v in asdict(self).items() if k != "evidence"}


@dataclass
class Doubles:
    """Where a count disagrees with the raw rows; `excess`: readings counted beyond them."""

    mismatches: list[str] = field(default_factory=list)
    excess: int = 0

    def add(self, what: str, counted: int, rows: int) -> None:
        if counted != rows:
            self.mismatches.append(f"{what}: counted {counted}, rows {rows}")
            self.excess += max(0, counted - rows)


def stored_counter(metrics_text: str) -> int:
    """The web node's `telering_readings_stored_total`: the sum of `stored` over its 200 answers."""
    found = _STORED.search(metrics_text)
    if found is None:
        raise ValueError("the web node's /metrics has no telering_readings_stored_total")
    return int(float(found.group(1)))


def check(query: Query, dialect: str, counted_by_web: int | None, rows_before_web: int = 0) -> Doubles:
    """Every count of stored readings against the raw rows of `readings`.

    `counted_by_web`: the web node's stored counter, which started at 0 when `rows_before_web`
    rows were already there (a restarted web node counts from its own start)."""
    doubles = Doubles()
    rows = int(next(iter(query("SELECT count(*) FROM readings")))[0])
    if counted_by_web is not None:  # None: a web node that counted some of them was killed
        doubles.add("the web node's stored counter", counted_by_web, rows - rows_before_web)
    minutes = {(s, int(m)): int(n) for s, m, n in query(_per_minute(dialect))}
    for table, width in ROLLUPS:
        raw: Counter[tuple[str, int]] = Counter()
        for (sensor, minute), n in minutes.items():
            raw[(sensor, minute * 60 // width * width)] += n
        rolled = {(s, int(b)): int(n) for s, b, n in query(f"SELECT sensor_id, bucket, count FROM {table}")}
        for key in sorted(raw.keys() | rolled.keys()):
            doubles.add(f"{table} {key[0]} @{key[1]}", rolled.get(key, 0), raw.get(key, 0))
    per_sensor: Counter[str] = Counter()
    for (sensor, _), n in minutes.items():
        per_sensor[sensor] += n
    summary = {s: int(n) for s, n in query("SELECT sensor_id, count FROM sensor_summary")}
    for sensor in sorted(per_sensor.keys() | summary.keys()):
        doubles.add(f"sensor_summary {sensor}", summary.get(sensor, 0), per_sensor.get(sensor, 0))
    return doubles


def settled(checker: Callable[[], Doubles], timeout: float = 15.0) -> Doubles:
    """`checker`'s answer once every count agrees, or its last answer after `timeout`: the web node
    counts a batch just after the transaction that stored it, so the rows may lead for a moment."""
    last = Doubles()

    def agree() -> bool:
        nonlocal last
        last = checker()
        return not last.mismatches

    try:
        eventually(agree, timeout=timeout, interval=0.2)
    except AssertionError:
        pass  # the mismatches are the answer
    return last


def tally(
    name: str,
    summaries: Iterable[dict],
    keys: list[tuple[str, int]],
    doubles: Doubles,
    recovery_s: float | None = None,
    evidence: dict[str, Any] | None = None,
) -> ScenarioResult:
    """What the simulator runs delivered (their summaries) against the stored `keys`, sensor by sensor."""
    summaries = list(summaries)
    evidence = {} if evidence is None else evidence
    sent: Counter[str] = Counter()
    for summary in summaries:
        sent.update({s: v["sent"] for s, v in summary["per_sensor"].items()})
    per_sensor = Counter(sensor for sensor, _ in keys)
    evidence.setdefault("simulator_failed", sum(s["failed"] for s in summaries))
    evidence["unexpected"] = sum(max(0, n - sent.get(s, 0)) for s, n in per_sensor.items())
    evidence["doubles"] = doubles.mismatches[:20]
    return ScenarioResult(
        scenario=name,
        sent=sum(s["sent_valid"] for s in summaries),
        stored=len(keys),
        lost=sum(max(0, n - per_sensor.get(s, 0)) for s, n in sent.items()),
        duplicated=doubles.excess,
        recovery_s=recovery_s,
        evidence=evidence,
    )


def assert_exactly_once(result: ScenarioResult, min_sent: int = 1) -> None:
    """Every valid reading sent is stored, and every count of them (the web node's, each rollup's,
    each sensor's summary) equals the rows: nothing lost, nothing counted twice."""
    evidence = result.evidence
    assert evidence["simulator_failed"] == 0 and result.sent >= min_sent, evidence
    assert (result.stored, result.lost, evidence["unexpected"]) == (result.sent, 0, 0), evidence
    assert evidence["doubles"] == [] and result.duplicated == 0, evidence["doubles"]


def _per_minute(dialect: str) -> str:
    # integer minutes since the epoch, worked out apart from the web node's own bucket expression;
    # ts is positive, so SQLite's truncating cast is a floor (PostgreSQL's cast rounds: floor first)
    minute = "CAST(ts AS INTEGER) / 60" if dialect == "sqlite" else "CAST(floor(ts) AS BIGINT) / 60"
    return f"SELECT sensor_id, {minute} AS m, count(*) FROM readings GROUP BY sensor_id, m"
