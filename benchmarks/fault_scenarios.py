"""The six fault scenarios of issue 6 on real processes, shared by `tests/faults` and
`python -m benchmarks.faults`.

Each scenario starts a web node and worker(s) on a broker, streams readings with the real
simulator, injects its fault mid-stream and ends by counting: every valid reading the simulator
sent must be stored exactly once. `recovery_s` is the time from the fault's end until the stored
count caught up with everything the `readings` topic held at that moment. Each result also
carries the evidence its test asserts on (epochs, refusals, who held the token).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from protocol.settings import Settings
from protocol.token import GrantMessage, Release
from stream_app.consumer import group_id
from testkit.observers import FenceWatcher, TokenWatcher, TopicCounter, leads, owned, refusals, wait_split
from testkit.pipeline import PipelineHarness
from testkit.processes import ManagedProcess
from testkit.proxy import FreezableProxy
from testkit.waiting import eventually

SENSORS = 16  # 3-5 sensors on each of the 4 receivers
RATE = 150.0  # readings/s: modest, the machine is shared
WARM_UP = 300  # stored readings before the fault: the stream is flowing
OUTAGE_S = 10.0  # how long the web node stays down
PAUSE_TTL_S = 25.0  # paused-receiver: grants outlive a failover (10 s session timeout + rebalance)


@dataclass
class ScenarioResult:
    scenario: str
    sent: int
    stored: int
    lost: int
    duplicated: int
    recovery_s: float | None
    evidence: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """What `python -m benchmarks.faults` writes per scenario."""
        return {k: v for k, v in asdict(self).items() if k != "evidence"}


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
        return count(self.harness, name, summary, recovery_s, self.evidence)


class Stream:
    """The real simulator in the background, for a fixed duration at a fixed rate."""

    def __init__(self, harness: PipelineHarness, duration: float, rate: float, seed: int) -> None:
        self.proc, self._summary_path = harness.start_simulator(
            "--sensors", str(SENSORS), "--rate", str(rate), "--duration", str(duration), "--seed", str(seed)
        )
        self._timeout = duration + 120

    def summary(self) -> dict:
        eventually(
            lambda: not self.proc.alive, timeout=self._timeout, interval=0.2, message="the simulator did not finish"
        )
        if not self._summary_path.exists():
            raise RuntimeError(f"simulator wrote no summary:\n{self.proc.log_tail()}")
        return json.loads(self._summary_path.read_text())


def count(
    harness: PipelineHarness, name: str, summary: dict, recovery_s: float | None, evidence: dict[str, Any]
) -> ScenarioResult:
    """Compare what the simulator delivered with what the database holds, sensor by sensor."""
    keys = harness.stored_keys()
    per_sensor = Counter(sensor for sensor, _ in set(keys))
    sent = {s: v["sent"] for s, v in summary["per_sensor"].items()}
    lost = sum(max(0, n - per_sensor.get(s, 0)) for s, n in sent.items())
    evidence["unexpected"] = sum(max(0, n - sent.get(s, 0)) for s, n in per_sensor.items())
    return ScenarioResult(
        scenario=name,
        sent=summary["sent_valid"],
        stored=len(keys),
        lost=lost,
        duplicated=len(keys) - len(set(keys)),
        recovery_s=recovery_s,
        evidence=evidence,
    )


@contextmanager
def observed(harness: PipelineHarness) -> Iterator[Observed]:
    topics = harness.topics
    with TokenWatcher(harness.bootstrap, topics.token) as watcher, FenceWatcher(harness.db_path) as fence:
        counter = TopicCounter(harness.bootstrap, topics.readings, receivers_group(harness.app_id))
        try:
            yield Observed(harness, watcher, fence, counter)
        finally:
            counter.close()


def _start(harness: PipelineHarness, workers: int = 1) -> list[ManagedProcess]:
    harness.start_web_node()
    procs = [harness.start_worker() for _ in range(workers)]
    for proc in procs:
        harness.wait_worker_ready(proc)
    return procs


def receivers_group(app_id: str) -> str:
    """The consumer group whose commits say how far the receivers have stored `readings`."""
    return group_id(Settings(app_id=app_id))


def _worker_pid_in(release: Release, proc: ManagedProcess) -> bool:
    return f"-{proc.pid}-" in release.worker


# -- the scenarios ------------------------------------------------------------------------------


def worker_kill(harness: PipelineHarness) -> ScenarioResult:
    """SIGKILL the only worker while it holds buffered, unacked readings; restart it."""
    (worker,) = _start(harness)
    with observed(harness) as run:
        stream = run.stream(duration=18)
        harness.wait_stored(WARM_UP)
        # kill it while Kafka holds readings it has read but not committed (not yet stored)
        run.evidence["uncommitted_at_kill"] = eventually(run.topic.uncommitted, timeout=30)
        run.evidence["unstored_at_kill"] = run.topic.messages() - harness.stored()
        worker.kill()
        killed_after = run.token.last_offset
        harness.start_worker()
        recovery = run.wait_caught_up(time.monotonic())
        run.evidence["replayed_duplicates"] = sum(r.duplicates for r in run.token.releases(killed_after))
        return run.finish("worker-kill", stream, recovery)


def webnode_kill(harness: PipelineHarness) -> ScenarioResult:
    """SIGKILL the web node for OUTAGE_S mid-stream; restart it on the same database."""
    (worker,) = _start(harness)
    with observed(harness) as run:
        stream = run.stream(duration=22)
        harness.wait_stored(WARM_UP)
        web = next(p for p in harness.processes if p.name.startswith("web"))
        web.kill()
        killed_at, log_mark = time.monotonic(), len(worker.log_text())
        stored_at_kill = harness.stored()
        # hold the outage; meanwhile the receivers must have tried and failed to reach it
        eventually(
            lambda: time.monotonic() - killed_at >= OUTAGE_S and "web node unavailable" in worker.log_text()[log_mark:],
            timeout=OUTAGE_S + 30,
        )
        run.evidence["stored_during_outage"] = harness.stored() - stored_at_kill
        run.evidence["outage_s"] = round(time.monotonic() - killed_at, 1)
        harness.start_web_node()
        recovery = run.wait_caught_up(time.monotonic())
        return run.finish("webnode-kill", stream, recovery)


def broker_restart(harness: PipelineHarness, broker: Any) -> ScenarioResult:
    """Stop the (private) Kafka broker cleanly mid-stream and start it again on its data."""
    (worker,) = _start(harness)
    with observed(harness) as run:
        stream = run.stream(duration=25)
        harness.wait_stored(WARM_UP)
        stopped_at = time.monotonic()
        broker.stop()
        broker.start()
        fault_end = time.monotonic()
        run.evidence["outage_s"] = round(fault_end - stopped_at, 1)
        recovery = run.wait_caught_up(fault_end)
        run.evidence["worker_alive"] = worker.alive
        return run.finish("broker-restart", stream, recovery)


def rebalance(harness: PipelineHarness) -> ScenarioResult:
    """Start a second worker mid-stream, then stop the first gracefully: the ring follows."""
    (first,) = _start(harness)
    with observed(harness) as run:
        stream = run.stream(duration=25)
        harness.wait_stored(WARM_UP)
        second = harness.start_worker()
        wait_split([first, second], harness.partitions, harness.app_id)
        eventually(
            lambda: any(_worker_pid_in(r, second) and r.stored > 0 for r in run.token.releases()),
            timeout=60,
            message="the second worker never wrote",
        )
        run.evidence["split"] = {w.name: sorted(owned(w) or ()) for w in (first, second)}
        first.stop()
        stopped_after = run.token.last_offset
        fault_end = time.monotonic()
        eventually(lambda: owned(second) == set(range(harness.partitions)), timeout=60)
        recovery = run.wait_caught_up(fault_end)

        def served() -> set[int]:
            return {r.receiver for r in run.token.releases(stopped_after) if r.stored > 0 and _worker_pid_in(r, second)}

        try:
            eventually(lambda: served() == set(range(harness.partitions)), timeout=60)
        except AssertionError:
            pass
        run.evidence["served_after_stop"] = sorted(served())
        run.evidence["max_grant_gap_s"] = _max_grant_gaps(run.token, harness.partitions)
        return run.finish("rebalance", stream, recovery)


def paused_receiver(harness: PipelineHarness) -> ScenarioResult:
    """SIGSTOP the worker holding the token mid-request; the ring moves on; SIGCONT: its late
    batch is refused with 409 and its readings are still stored exactly once.

    The web node checks expiry before the epoch, so a batch sent after its grant *expired* gets
    401 (and a receiver does not even send one); the epoch fence (409) is what stops a holder
    whose grant is unexpired but superseded. So the paused holder is the leader, grants live
    PAUSE_TTL_S, and the ring moves on through failover. Each worker reaches the web node
    through its own proxy; freezing the leader's makes its request arrive late, for certain.
    """
    harness.start_web_node()
    proxies = [FreezableProxy(harness.web_port) for _ in range(2)]
    try:
        workers = [harness.start_worker(env={"WEB_NODE_URL": p.url}) for p in proxies]
        for worker in workers:
            harness.wait_worker_ready(worker)
        leader = wait_split(workers, harness.partitions, harness.app_id)
        follower = next(w for w in workers if w is not leader)
        proxy = proxies[workers.index(leader)]
        with observed(harness) as run:
            stream = run.stream(duration=25)
            harness.wait_stored(WARM_UP)
            proxy.freeze()
            grant = _held_grant(run, leader)
            leader.pause()
            refused_before = refusals(harness.web_url)["grant_superseded"]
            eventually(
                lambda: run.fence.epoch > grant.epoch and leads(follower, harness.app_id),
                timeout=max(1.0, grant.expires_at - time.time() - 2),
                message=f"the ring did not move on past epoch {grant.epoch} before it expired",
            )
            run.evidence["held"] = {
                "receiver": grant.receiver,
                "epoch": grant.epoch,
                "unexpired_s_at_delivery": round(grant.expires_at - time.time(), 1),
                "fence_at_delivery": run.fence.epoch,
            }
            proxy.thaw()  # the held request reaches the web node now: late
            eventually(
                lambda: refusals(harness.web_url)["grant_superseded"] > refused_before,
                timeout=30,
                message="the web node did not refuse the late batch with 409",
            )
            leader.resume()
            fault_end = time.monotonic()
            release = eventually(
                lambda: run.token.first(lambda m: isinstance(m, Release) and m.epoch == grant.epoch),
                timeout=30,
                message="the paused holder never released",
            ).message
            run.evidence["late_release"] = {"stored": release.stored, "superseded_by": release.superseded_by}
            recovery = run.wait_caught_up(fault_end)
            return run.finish("paused-receiver", stream, recovery)
    finally:
        for proxy in proxies:
            proxy.close()


def leader_failover(harness: PipelineHarness) -> ScenarioResult:
    """SIGKILL the worker running the coordinator; the other takes over, epochs keep rising."""
    workers = _start(harness, workers=2)
    leader = wait_split(workers, harness.partitions, harness.app_id)
    follower = next(w for w in workers if w is not leader)
    with observed(harness) as run:
        stream = run.stream(duration=22)
        harness.wait_stored(WARM_UP)
        before = run.token.grants()
        leader.kill()
        fault_end = time.monotonic()
        killed_after = run.token.last_offset
        eventually(lambda: leads(follower, harness.app_id), timeout=60, message="no worker took over the coordinator")
        recovery = run.wait_caught_up(fault_end)
        after = run.token.grants(killed_after)
        run.evidence["last_epoch_before"] = max((g.epoch for g in before), default=0)
        run.evidence["first_epoch_after"] = after[0].epoch if after else None
        return run.finish("leader-failover", stream, recovery)


def _held_grant(run: Observed, leader: ManagedProcess, attempts: int = 50) -> GrantMessage:
    """With the leader's requests held by its proxy: the next grant of one of its receivers whose
    turn is stuck (one with nothing to send releases within milliseconds)."""
    mine = owned(leader) or set()
    mark = run.token.last_offset
    for _ in range(attempts):
        record = eventually(
            lambda mark=mark: run.token.first(lambda m: isinstance(m, GrantMessage) and m.receiver in mine, after=mark),
            timeout=30,
        )
        mark, grant = record.offset, record.message
        try:
            eventually(
                lambda grant=grant, mark=mark: run.token.first(
                    lambda m: isinstance(m, Release) and m.epoch == grant.epoch, after=mark
                ),
                timeout=1.0,
            )
        except AssertionError:
            return grant
    raise RuntimeError(f"none of {attempts} grants to the leader's receivers {sorted(mine)} got stuck")


def _max_grant_gaps(watcher: TokenWatcher, partitions: int) -> dict[int, float]:
    times: dict[int, list[float]] = {p: [] for p in range(partitions)}
    for record in watcher.records():
        if isinstance(record.message, GrantMessage):
            times.setdefault(record.message.receiver, []).append(record.at)
    return {p: round(max((b - a for a, b in itertools.pairwise(ts)), default=0.0), 2) for p, ts in times.items()}


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[..., ScenarioResult]
    options: dict[str, Any] = field(default_factory=dict)  # PipelineHarness keyword arguments
    private_broker: bool = False


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("worker-kill", worker_kill),
        Scenario("webnode-kill", webnode_kill),
        Scenario("broker-restart", broker_restart, private_broker=True),
        Scenario("rebalance", rebalance),
        Scenario("paused-receiver", paused_receiver, {"grant_ttl_s": PAUSE_TTL_S}),
        Scenario("leader-failover", leader_failover),
    ]
}


def run_scenario(name: str, bootstrap: str, workdir: Path, broker: Any = None) -> ScenarioResult:
    """Run one scenario on its own pipeline in `workdir` (`broker`: a LocalKafka it may restart)."""
    scenario = SCENARIOS[name]
    if scenario.private_broker and broker is None:
        raise ValueError(f"{name} needs a broker it may restart")
    harness = PipelineHarness(bootstrap=bootstrap, workdir=workdir, **scenario.options)
    try:
        return scenario.run(harness, broker) if scenario.private_broker else scenario.run(harness)
    finally:
        harness.stop()
