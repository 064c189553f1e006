"""MessageSource: seqs, duplicates, held-back readings and invalid messages, without Kafka."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from protocol.readings import InvalidReading, parse_reading
from simulator.faults import FaultConfig
from simulator.messages import Kind, MessageSource, Outgoing, sensor_ids


class FixedStepClock:
    """A deterministic clock: each call is 1 ms after the previous one, from `start` (default: when
    it was made, not when the module was imported: in a long suite a "future" timestamp made from
    the import time would be past by the time it is checked)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime.now(UTC)
        self._calls = 0

    def __call__(self) -> datetime:
        self._calls += 1
        return self._start + timedelta(milliseconds=self._calls)


def produce(
    slots: int,
    *,
    sensors: int = 5,
    seed: int = 1,
    start_seq: int = 0,
    drain: bool = True,
    start: datetime | None = None,
    **fractions: float,
) -> list[Outgoing]:
    source = MessageSource(
        sensor_ids("sensor-", sensors),
        seed,
        start_seq=start_seq,
        faults=FaultConfig(**fractions),
        clock=FixedStepClock(start),
    )
    out = [m for i in range(slots) for m in source.slot(i, i * 0.01)]
    return out + source.drain() if drain else out


FAULTY = {"invalid_fraction": 0.05, "duplicate_fraction": 0.05, "out_of_order_fraction": 0.05}


def test_sensor_ids_are_zero_padded_and_valid() -> None:
    assert sensor_ids("sensor-", 3) == ["sensor-000", "sensor-001", "sensor-002"]
    assert sensor_ids("s", 1001)[-1] == "s1000"


def test_without_faults_every_slot_is_one_valid_reading_in_seq_order() -> None:
    messages = produce(1000, sensors=4)
    assert len(messages) == 1000 and {m.kind for m in messages} == {Kind.VALID}
    by_sensor: dict[str, list[int]] = defaultdict(list)
    for m in messages:
        reading = parse_reading(m.value)
        assert (reading.sensor_id, reading.seq) == (m.sensor_id, m.seq)
        by_sensor[m.sensor_id].append(reading.seq)
    assert by_sensor == {f"sensor-{i:03d}": list(range(250)) for i in range(4)}


def test_every_slot_yields_exactly_one_message_in_the_end() -> None:
    assert len(produce(5000, **FAULTY)) == 5000


def test_valid_kinds_parse_and_invalid_ones_do_not() -> None:
    for m in produce(5000, **FAULTY):
        if m.kind is Kind.INVALID:
            with pytest.raises(InvalidReading):
                parse_reading(m.value)
            assert m.seq is None and m.invalid_kind
        else:
            reading = parse_reading(m.value)
            assert (reading.sensor_id, reading.seq) == (m.sensor_id, m.seq)


def test_fractions_are_roughly_respected() -> None:
    kinds = Counter(m.kind for m in produce(40_000, **FAULTY))
    for kind in (Kind.INVALID, Kind.DUPLICATE, Kind.OUT_OF_ORDER):
        assert kinds[kind] / 40_000 == pytest.approx(0.05, abs=0.01), kind


def test_fresh_seqs_are_contiguous_from_start_seq_and_invalid_ones_consume_none() -> None:
    messages = produce(5000, start_seq=1000, **FAULTY)
    fresh: dict[str, set[int]] = defaultdict(set)
    for m in messages:
        if m.kind in (Kind.VALID, Kind.OUT_OF_ORDER):
            assert m.seq not in fresh[m.sensor_id], "a fresh seq was sent twice"
            fresh[m.sensor_id].add(m.seq)
    for seqs in fresh.values():
        assert seqs == set(range(1000, 1000 + len(seqs)))


def test_duplicates_repeat_an_already_sent_reading_byte_for_byte() -> None:
    sent: dict[tuple[str, int], bytes] = {}
    duplicates = 0
    for m in produce(5000, **FAULTY):
        if m.kind is Kind.DUPLICATE:
            duplicates += 1
            assert sent[(m.sensor_id, m.seq)] == m.value
        elif m.kind is not Kind.INVALID:
            sent[(m.sensor_id, m.seq)] = m.value
    assert duplicates > 0


def test_out_of_order_readings_come_right_after_a_later_one() -> None:
    messages = produce(5000, **FAULTY)
    count = 0
    for before, late in itertools.pairwise(messages):
        if late.kind is Kind.OUT_OF_ORDER:
            count += 1
            assert before.sensor_id == late.sensor_id and before.kind is Kind.VALID
            assert before.seq == late.seq + 1
            assert parse_reading(late.value).ts < parse_reading(before.value).ts
    assert count > 0


def test_drain_sends_what_is_still_held_back() -> None:
    source = MessageSource(["only"], 3, faults=FaultConfig(out_of_order_fraction=1.0), clock=FixedStepClock())
    assert source.slot(0, 0.0) == []
    drained = source.drain()
    assert [(m.seq, m.kind) for m in drained] == [(0, Kind.VALID)]
    assert source.drain() == []


def test_invalid_messages_are_keyed_by_their_sensor() -> None:
    invalid = [m for m in produce(2000, sensors=3, invalid_fraction=0.5) if m.kind is Kind.INVALID]
    assert {m.sensor_id for m in invalid} == {"sensor-000", "sensor-001", "sensor-002"}


def test_same_seed_and_clock_same_bytes() -> None:
    start = datetime.now(UTC)
    first, second = produce(3000, seed=9, start=start, **FAULTY), produce(3000, seed=9, start=start, **FAULTY)
    assert first == second
    assert produce(3000, seed=10, start=start, **FAULTY) != first


def test_valid_json_has_the_wire_shape() -> None:
    value = produce(1)[0].value
    assert list(json.loads(value)) == ["sensor_id", "seq", "ts", "temperature", "humidity", "pressure", "battery"]
    ts = json.loads(value)["ts"]
    assert ts.endswith("Z") and len(ts) == len("2026-11-24T14:00:00.123456Z")
    assert b" " not in value


def test_at_least_one_sensor_is_needed() -> None:
    with pytest.raises(ValueError):
        MessageSource([], 0)
