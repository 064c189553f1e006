"""Delivery tally and the summary: distinct valid readings, kinds, failures, per-sensor state."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.messages import Kind, Outgoing
from simulator.summary import SeqSet, Summary, Tally


def msg(sensor: str, seq: int | None, kind: Kind = Kind.VALID, invalid_kind: str | None = None) -> Outgoing:
    return Outgoing(sensor, b"{}", kind, seq, invalid_kind)


def test_seqset_counts_distinct_values_in_any_order() -> None:
    seqs = SeqSet(start=10)
    added = [seqs.add(s) for s in (10, 12, 11, 12, 10, 15, 3, 3)]
    assert added == [True, True, True, False, False, True, True, False]
    assert len(seqs) == 5 and seqs.last == 15


def test_seqset_stays_compact_for_in_order_seqs() -> None:
    seqs = SeqSet()
    for s in range(100_000):
        seqs.add(s)
    assert len(seqs) == 100_000 and seqs.last == 99_999
    assert not seqs._above  # everything folded into the contiguous prefix


def test_tally_counts_each_kind_and_distinct_readings() -> None:
    tally = Tally(["a", "b", "c"], start_seq=0)
    for m in (
        msg("a", 0),
        msg("a", 1),
        msg("a", 0, Kind.DUPLICATE),
        msg("b", 1),
        msg("b", 0, Kind.OUT_OF_ORDER),
        msg("b", None, Kind.INVALID, "nan"),
        msg("a", None, Kind.INVALID, "nan"),
        msg("a", None, Kind.INVALID, "future_ts"),
    ):
        tally.on_delivered(m)
    tally.on_failed(msg("c", 0), RuntimeError("broker gone"))
    summary = tally.summary(elapsed_s=2.0)
    assert summary.to_dict() == {
        "sent_valid": 4,
        "sent_messages": 8,
        "invalid": 3,
        "invalid_by_kind": {"future_ts": 1, "nan": 2},
        "duplicates": 1,
        "out_of_order": 1,
        "failed": 1,
        "per_sensor": {
            "a": {"sent": 2, "last_seq": 1},
            "b": {"sent": 2, "last_seq": 1},
            "c": {"sent": 0, "last_seq": None},
        },
        "elapsed_s": 2.0,
        "rate": 4.0,
        "started_at": 0.0,
    }
    assert tally.completed() == 9
    assert "broker gone" in (tally.last_error or "")


def test_a_duplicate_counts_as_distinct_when_the_original_failed() -> None:
    tally = Tally(["a"])
    tally.on_failed(msg("a", 0), None)
    tally.on_delivered(msg("a", 0, Kind.DUPLICATE))
    assert tally.summary(1.0).sent_valid == 1


def test_wait_completed_returns_when_enough_are_answered() -> None:
    tally = Tally(["a"])
    assert not tally.wait_completed(1, timeout_s=0.01)
    tally.on_delivered(msg("a", 0))
    assert tally.wait_completed(1, timeout_s=0.01)


def test_summary_json_and_file(tmp_path: Path) -> None:
    summary = Summary(sent_valid=3, sent_messages=3, elapsed_s=1.23456, rate=2.4321)
    path = tmp_path / "summary.json"
    summary.write(path)
    data = json.loads(path.read_text())
    assert data == json.loads(summary.to_json())
    assert data["elapsed_s"] == 1.235 and data["rate"] == 2.4
    assert list(data) == [
        "sent_valid",
        "sent_messages",
        "invalid",
        "invalid_by_kind",
        "duplicates",
        "out_of_order",
        "failed",
        "per_sensor",
        "elapsed_s",
        "rate",
        "started_at",
    ]


def test_zero_elapsed_gives_zero_rate() -> None:
    assert Tally(["a"]).summary(0.0).rate == 0.0
