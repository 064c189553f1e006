"""What every fault scenario shares: its result, the observers of a running pipeline, the
simulator stream and the final count, sensor by sensor."""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from protocol.keyring import Keyring
from protocol.keys import read_key_file
from protocol.settings import Settings
from protocol.token_messages import Release
from stream_app.consumer import group_id
from testkit.integrity import ScenarioResult
from testkit.observers import FenceWatcher, TokenWatcher, TopicCounter, refusals
from testkit.pipeline import PipelineHarness
from testkit.processes import ManagedProcess
from testkit.waiting import eventually

SENSORS = 16  # 3-5 sensors on each of the 4 receivers
RATE = 150.0  # readings/s: modest, the machine is shared
WARM_UP = 300  # stored readings before the fault: the stream is flowing
OUTAGE_S = 10.0  # how long the web node stays down
# the most a stream runs in scenarios that need readings flowing until some evidence after their
# fault is in; they end it early then (`Stream.end_early`): a fixed length may run out first on a
# slow machine
OPEN_STREAM_S = 180.0
# paused-receiver: grants outlive a failover (10 s session timeout, then a rebalance that takes
# another 10-20 s on a busy two-core machine)
PAUSE_TTL_S = 40.0


@dataclass
class Observed:
    """A running pipeline with its observers: the token topic, the fence, the readings topic."""

    harness: PipelineHarness
    token: TokenWatcher
    fence: FenceWatcher
    topic: TopicCounter
    evidence: dict[str, Any] = field(default_factory=dict)

    def stream(self, duration: float, rate: float = RATE, seed: int = 1) -> Stream:
        return Stream(self.harness, duration, rate, seed)

    def wait_caught_up(self, fault_end: float, timeout: float = 120.0) -> float | None:
        """Seconds from `fault_end` (time.monotonic) until stored >= what the topic held then."""
        target = self.topic.messages()
        try:
            eventually(lambda: self.harness.stored() >= target, timeout=timeout, interval=0.1)
        except AssertionError:
            self.evidence["recovery_timeout"] = f"stored {self.harness.stored()} of {target}"
            return None
        return round(time.monotonic() - fault_end, 2)

    def finish(self, name: str, stream: Stream, recovery_s: float | None) -> ScenarioResult:
        """Let the stream end, wait for the store to catch up, then count exactly-once."""
        summary = stream.summary()
        try:
            self.harness.wait_stored(summary["sent_valid"], timeout=120)
        except AssertionError as exc:
            self.evidence["wait_stored"] = str(exc)[:300]
        self.token.sync()
        grants = self.token.grants()
        epochs = [g.epoch for g in grants]
        logs = self.harness.all_worker_logs()
        self.evidence.update(
            simulator_failed=summary["failed"],
            grants=len(grants),
            grant_epochs_increasing=all(b > a for a, b in itertools.pairwise(epochs)),
            fence_regressions=self.fence.regressions(),
            refused_401=logs.count("refused the grant (401"),
            refused_409=logs.count("refused the grant (409"),
            expired_turns=logs.count("did not release epoch"),
            web_refused={code: n for code, n in refusals(self.harness.web_url).items() if n},
        )
        return self.harness.tally(name, [summary], recovery_s, self.evidence)


class Stream:
    """The real simulator in the background, for a fixed duration at a fixed rate."""

    def __init__(self, harness: PipelineHarness, duration: float, rate: float, seed: int) -> None:
        self.proc, self._summary_path = harness.start_simulator(
            "--sensors", str(SENSORS), "--rate", str(rate), "--duration", str(duration), "--seed", str(seed)
        )
        self._timeout = duration + 120

    def end_early(self) -> None:
        """Ctrl-C for the simulator: it stops sending, waits for every acknowledgement and summarises."""
        if self.proc.alive:
            assert self.proc.proc is not None
            self.proc.proc.send_signal(signal.SIGINT)

    def summary(self) -> dict:
        eventually(
            lambda: not self.proc.alive, timeout=self._timeout, interval=0.2, message="the simulator did not finish"
        )
        if not self._summary_path.exists():
            raise RuntimeError(f"simulator wrote no summary:\n{self.proc.log_tail()}")
        return json.loads(self._summary_path.read_text())


@contextmanager
def observed(harness: PipelineHarness) -> Iterator[Observed]:
    topics = harness.topics
    keyring = Keyring(read_key_file(harness.keys_file), harness.keys_file)
    watcher = TokenWatcher(harness.bootstrap, topics.token, keyring, app=harness.app_id)
    with watcher, FenceWatcher(harness.db_path) as fence:
        counter = TopicCounter(harness.bootstrap, topics.readings, receivers_group(harness.app_id))
        try:
            yield Observed(harness, watcher, fence, counter)
        finally:
            counter.close()


def receivers_group(app_id: str) -> str:
    """The consumer group whose commits say how far the receivers have stored `readings`."""
    return group_id(Settings(telering_app_id=app_id))


def worker_pid_in(release: Release, proc: ManagedProcess) -> bool:
    return f"-{proc.pid}-" in release.worker
