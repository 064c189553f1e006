"""The token ring as the token topic recorded it: turns (grant -> release) with Kafka timestamps."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from protocol import token_messages
from testkit.pipeline import read_records
from testkit.report import percentile


@dataclass
class Turn:
    receiver: int
    epoch: int
    granted_at: float  # unix seconds, the grant record's timestamp
    released_at: float | None = None  # the release record's, None if the grant expired
    stored: int = 0
    duplicates: int = 0


def read_turns(bootstrap: str, topic: str, options: Mapping[str, Any] | None = None) -> list[Turn]:
    """Every grant on the token topic, matched with its release (by epoch), in grant order."""
    turns: dict[int, Turn] = {}
    for record in read_records(bootstrap, topic, options=options):
        try:
            message = token_messages.decode(record.value)
        except ValueError:
            continue
        at = record.timestamp / 1000
        if isinstance(message, token_messages.GrantMessage):
            turns[message.epoch] = Turn(message.receiver, message.epoch, at)
        elif isinstance(message, token_messages.Release) and message.epoch in turns:
            turn = turns[message.epoch]
            turn.released_at, turn.stored, turn.duplicates = at, message.stored, message.duplicates
    return sorted(turns.values(), key=lambda t: t.epoch)


def ring_stats(turns: Iterable[Turn], start: float = 0.0, end: float = float("inf")) -> dict:
    """Cycle (grant -> release), a receiver's wait (its release -> its next grant), full-ring
    period (a receiver's grant -> its next grant) and readings per flush, for turns granted
    in [start, end]."""
    window = [t for t in turns if start <= t.granted_at <= end]
    by_receiver: dict[int, list[Turn]] = defaultdict(list)
    for turn in window:
        by_receiver[turn.receiver].append(turn)
    cycles = [1000 * (t.released_at - t.granted_at) for t in window if t.released_at is not None]
    waits, periods = [], []
    for own in by_receiver.values():
        for prev, nxt in itertools.pairwise(own):
            periods.append(1000 * (nxt.granted_at - prev.granted_at))
            if prev.released_at is not None:
                waits.append(1000 * (nxt.granted_at - prev.released_at))
    flushes = [t.stored + t.duplicates for t in window if t.stored + t.duplicates > 0]
    span = (window[-1].granted_at - window[0].granted_at) if len(window) > 1 else 0.0
    return {
        "turns": len(window),
        "expired_turns": sum(t.released_at is None for t in window),
        "receivers_seen": len(by_receiver),
        "cycle_p50_ms": percentile(cycles, 50),
        "cycle_p99_ms": percentile(cycles, 99),
        "wait_p50_ms": percentile(waits, 50),
        "wait_p99_ms": percentile(waits, 99),
        "ring_period_p50_ms": percentile(periods, 50),
        "ring_period_p99_ms": percentile(periods, 99),
        "readings_per_flush_mean": sum(flushes) / len(flushes) if flushes else 0.0,
        "readings_per_flush_p50": percentile(flushes, 50),
        "empty_turn_fraction": 1 - len(flushes) / len(window) if window else None,
        "flushes_per_s": len(flushes) / span if span > 0 else None,
        "redelivered": sum(t.duplicates for t in window),
    }
