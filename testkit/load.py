"""Offered load: several simulator processes at once (one kafka-python producer tops out near
8,000 messages/s here), each with its own sensors, their summaries merged."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from testkit.pipeline import PipelineHarness
from testkit.processes import ManagedProcess


@dataclass
class Load:
    """Running (or finished) simulators and, once `wait()`ed, their merged summary."""

    procs: list[tuple[ManagedProcess, Path]]
    started_at: float  # when the simulators were spawned; once `wait()`ed, when the first began sending
    summary: dict = field(default_factory=dict)

    def wait(self, timeout: float = 3600) -> dict:
        deadline = time.monotonic() + timeout
        for proc, _ in self.procs:
            assert proc.proc is not None
            code = proc.proc.wait(max(1.0, deadline - time.monotonic()))
            if code != 0:
                raise RuntimeError(f"{proc.name} exited {code}:\n{proc.log_tail()}")
        self.summary = merge([json.loads(path.read_text()) for _, path in self.procs])
        # measure from when the load really began: a simulator's start-up on a busy machine is seconds
        self.started_at = max(self.started_at, self.summary.get("started_at") or 0.0)
        return self.summary


def start_load(
    harness: PipelineHarness,
    *,
    producers: int,
    sensors: int,
    rate: float = 0.0,
    count: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
) -> Load:
    """`producers` simulators sharing `sensors`, `rate` (0 = as fast as possible) and `count`
    between them; sensor ids are prefixed per producer so their seqs never collide."""
    producers = max(1, min(producers, sensors))
    procs = []
    for i in range(producers):
        args = [
            "--sensors",
            str(_share(sensors, producers, i)),
            "--rate",
            str(rate / producers),
            "--sensor-prefix",
            f"p{i}-sensor-",
            "--seed",
            str(seed + i),
        ]
        if count is not None:
            args += ["--count", str(_share(count, producers, i))]
        if seconds is not None:
            args += ["--duration", str(seconds)]
        procs.append(harness.start_simulator(*args))
    return Load(procs, time.time())


def merge(summaries: list[dict]) -> dict:
    merged = {k: sum(s[k] for s in summaries) for k in ("sent_valid", "sent_messages", "invalid", "duplicates")}
    merged["per_sensor"] = {k: v for s in summaries for k, v in s["per_sensor"].items()}
    merged["rate"] = sum(s["rate"] for s in summaries)
    merged["elapsed_s"] = max(s["elapsed_s"] for s in summaries)
    merged["started_at"] = min((s.get("started_at") or 0.0 for s in summaries), default=0.0)
    return merged


def _share(total: int, parts: int, i: int) -> int:
    return total // parts + (1 if i < total % parts else 0)
