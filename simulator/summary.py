"""Counting what the broker acknowledged, and the final summary a run reports.

`Tally` is fed from kafka-python's delivery callbacks (the producer's I/O thread) and read by
the run loop, so it takes a lock. "sent_valid" counts distinct (sensor_id, seq) pairs that were
delivered: after a complete pipeline run the database holds exactly that many readings.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from simulator.messages import Kind, Outgoing


class SeqSet:
    """Distinct sequence numbers, compact when they arrive nearly in order."""

    def __init__(self, start: int = 0) -> None:
        self._below = start  # every seq in [start, _below) has been seen
        self._start = start
        self._above: set[int] = set()
        self._extra_low: set[int] = set()  # seqs below start (not produced by this simulator)
        self.last: int | None = None

    def add(self, seq: int) -> bool:
        """Record `seq`; True if it was new."""
        if seq < self._start:
            new = seq not in self._extra_low
            self._extra_low.add(seq)
        elif seq < self._below or seq in self._above:
            new = False
        else:
            new = True
            self._above.add(seq)
            while self._below in self._above:
                self._above.remove(self._below)
                self._below += 1
        if self.last is None or seq > self.last:
            self.last = seq
        return new

    def __len__(self) -> int:
        return self._below - self._start + len(self._above) + len(self._extra_low)


@dataclass
class Summary:
    """What a run delivered; `to_dict()` is the JSON the CLI prints."""

    sent_valid: int = 0
    sent_messages: int = 0
    invalid: int = 0
    invalid_by_kind: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    out_of_order: int = 0
    failed: int = 0
    per_sensor: dict[str, dict[str, int | None]] = field(default_factory=dict)
    elapsed_s: float = 0.0
    rate: float = 0.0
    started_at: float = 0.0  # unix time the first message was offered (after start-up)

    def to_dict(self) -> dict[str, object]:
        return {
            "sent_valid": self.sent_valid,
            "sent_messages": self.sent_messages,
            "invalid": self.invalid,
            "invalid_by_kind": dict(sorted(self.invalid_by_kind.items())),
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "failed": self.failed,
            "per_sensor": self.per_sensor,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate": round(self.rate, 1),
            "started_at": round(self.started_at, 3),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def write(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n")


class Tally:
    """Thread-safe delivery counters, per message kind and per sensor."""

    def __init__(self, sensor_ids: list[str], start_seq: int = 0) -> None:
        self._lock = threading.Condition()
        self._seqs = {s: SeqSet(start_seq) for s in sensor_ids}
        self._kinds: Counter[Kind] = Counter()
        self._invalid_kinds: Counter[str] = Counter()
        self.delivered = 0
        self.failed = 0
        self.distinct = 0
        self.last_error: str | None = None

    def on_delivered(self, message: Outgoing, _metadata: object = None) -> None:
        with self._lock:
            self.delivered += 1
            self._kinds[message.kind] += 1
            if message.invalid_kind is not None:
                self._invalid_kinds[message.invalid_kind] += 1
            if message.is_reading and message.seq is not None:
                seqs = self._seqs.setdefault(message.sensor_id, SeqSet())
                self.distinct += seqs.add(message.seq)
            self._lock.notify_all()

    def on_failed(self, message: Outgoing, error: object = None) -> None:
        with self._lock:
            self.failed += 1
            self.last_error = f"{message.sensor_id}: {error!r}"
            self._lock.notify_all()

    def completed(self) -> int:
        """Messages the broker has answered for, delivered or failed."""
        return self.delivered + self.failed

    def wait_completed(self, count: int, timeout_s: float) -> bool:
        """Block until at least `count` messages are answered for; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self.completed() >= count, timeout=timeout_s)

    def summary(self, elapsed_s: float, started_at: float = 0.0) -> Summary:
        with self._lock:
            return Summary(
                sent_valid=self.distinct,
                sent_messages=self.delivered,
                invalid=self._kinds[Kind.INVALID],
                invalid_by_kind=dict(self._invalid_kinds),
                duplicates=self._kinds[Kind.DUPLICATE],
                out_of_order=self._kinds[Kind.OUT_OF_ORDER],
                failed=self.failed,
                per_sensor={s: {"sent": len(q), "last_seq": q.last} for s, q in sorted(self._seqs.items())},
                elapsed_s=elapsed_s,
                rate=self.delivered / elapsed_s if elapsed_s > 0 else 0.0,
                started_at=started_at,
            )
