"""The six single-host fault scenarios of issue 6: a worker, the web node or the broker fails
mid-stream, or the ring is disturbed (a rebalance, a paused holder, a leader failover)."""

from __future__ import annotations

import itertools
import socket
import time
from typing import Any

from protocol.token_messages import GrantMessage, Release
from testkit.observers import TokenWatcher, leads, owned, refusals, wait_split
from testkit.pipeline import PipelineHarness
from testkit.processes import ManagedProcess, children_of, running
from testkit.proxy import FreezableProxy
from testkit.scenarios.base import (
    OPEN_STREAM_S,
    OUTAGE_S,
    PAUSE_TTL_S,
    WARM_UP,
    Observed,
    ScenarioResult,
    observed,
    worker_pid_in,
)
from testkit.waiting import eventually


def worker_kill(harness: PipelineHarness) -> ScenarioResult:
    """SIGKILL the only worker while it holds buffered, unacked readings; restart it."""
    _, (worker,) = harness.start()
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
    _, (worker,) = harness.start()
    with observed(harness) as run:
        stream = run.stream(duration=22)
        harness.wait_stored(WARM_UP)
        web = next(p for p in harness.processes if p.name.startswith("web"))
        children = children_of(web.pid)
        web.kill()
        killed_at, log_mark = time.monotonic(), len(worker.log_text())
        # the web node's processes die with their parent, a moment after it (a batch may commit
        # until then): the outage starts when none of them runs and nothing listens on its port
        eventually(
            lambda: not any(map(running, children)) and not _listening(harness.web_port),
            timeout=30,
            message="the web node's processes stayed up",
        )
        # counted as the file's only reader: a commit cut short by the kill is in or out for good
        with run.fence.paused():
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
    _, (worker,) = harness.start()
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
    """Start a second worker mid-stream, then stop the first gracefully: the ring follows.

    The stream runs until the second worker has served every receiver after the stop (or a
    minute has passed), then ends early: on a slow machine the steps before the stop can take
    longer than a fixed-length stream, and a receiver with nothing to store is never served."""
    _, (first,) = harness.start()
    with observed(harness) as run:
        stream = run.stream(duration=OPEN_STREAM_S)
        harness.wait_stored(WARM_UP)
        second = harness.start_worker()
        wait_split([first, second], harness.partitions, harness.app_id)
        eventually(
            lambda: any(worker_pid_in(r, second) and r.stored > 0 for r in run.token.releases()),
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
            return {r.receiver for r in run.token.releases(stopped_after) if r.stored > 0 and worker_pid_in(r, second)}

        try:
            eventually(lambda: served() == set(range(harness.partitions)), timeout=60)
        except AssertionError:
            pass
        run.evidence["stream_running_after_stop"] = stream.proc.alive
        stream.end_early()
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
    # the frozen request's connection sits idle at the web node for up to a grant's lifetime: its
    # keep-alive timer (WEB_NODE_HEADER_TIMEOUT_S) must outlast that, or it closes the connection first
    harness.start_web_node(env={"WEB_NODE_HEADER_TIMEOUT_S": str(3 * PAUSE_TTL_S)})
    proxies = [FreezableProxy(harness.web_port) for _ in range(2)]
    try:
        workers = [harness.start_worker(env={"WEB_NODE_URL": p.url}) for p in proxies]
        for worker in workers:
            harness.wait_worker_ready(worker)
        leader = wait_split(workers, harness.partitions, harness.app_id)
        follower = next(w for w in workers if w is not leader)
        proxy = proxies[workers.index(leader)]
        with observed(harness) as run:
            stream = run.stream(duration=OPEN_STREAM_S)  # ended once the late release is in
            harness.wait_stored(WARM_UP)
            proxy.freeze()
            grant = _held_grant(run, leader)
            leader.pause()
            refused_before = refusals(harness.web_url)["grant_superseded"]
            try:
                eventually(
                    lambda: run.fence.epoch > grant.epoch and leads(follower, harness.app_id),
                    timeout=max(1.0, grant.expires_at - time.time() - 2),
                    message=f"the ring did not move on past epoch {grant.epoch} before it expired",
                )
            except AssertionError as exc:  # what the token topic saw meanwhile, to tell why
                grants = [(g.epoch, g.receiver) for g in run.token.grants() if g.epoch >= grant.epoch]
                releases = [(r.epoch, r.receiver, r.stored) for r in run.token.releases() if r.epoch >= grant.epoch]
                raise AssertionError(
                    f"{exc}; fence {run.fence.epoch}, follower leads: {leads(follower, harness.app_id)}; "
                    f"grants (epoch, receiver) since: {grants}; releases (epoch, receiver, stored): {releases}"
                ) from None
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
            stream.end_early()
            recovery = run.wait_caught_up(fault_end)
            return run.finish("paused-receiver", stream, recovery)
    finally:
        for proxy in proxies:
            proxy.close()


def leader_failover(harness: PipelineHarness) -> ScenarioResult:
    """SIGKILL the worker running the coordinator; the other takes over, epochs keep rising."""
    _, workers = harness.start(workers=2)
    leader = wait_split(workers, harness.partitions, harness.app_id)
    follower = next(w for w in workers if w is not leader)
    with observed(harness) as run:
        stream = run.stream(duration=OPEN_STREAM_S)  # ended once the new coordinator granted
        harness.wait_stored(WARM_UP)
        before = run.token.grants()
        leader.kill()
        fault_end = time.monotonic()
        killed_after = run.token.last_offset
        eventually(lambda: leads(follower, harness.app_id), timeout=60, message="no worker took over the coordinator")
        recovery = run.wait_caught_up(fault_end)
        try:
            eventually(lambda: run.token.grants(killed_after), timeout=60)
        except AssertionError:
            pass
        stream.end_early()
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


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
