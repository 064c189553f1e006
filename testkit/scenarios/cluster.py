"""The fault scenarios on the namespace cluster (three brokers, RF 3, min.insync.replicas 2,
three workers, two web node replicas on PostgreSQL behind haproxy), shared by tests/cluster and
`python -m benchmarks.cluster`, and the scale figures (stored/s for 1, 2 and 3 workers).

Each streams readings through the simulator host, injects its fault mid-stream, lifts it, and
counts: every reading sent stored exactly once. `recovery_s` runs from the moment the fault is
lifted until everything the `readings` topic held then is stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from testkit.cluster.hosts import Host
from testkit.cluster.live import LiveListener
from testkit.cluster.observe import ClusterView
from testkit.scenarios.base import ScenarioResult
from testkit.scenarios.cluster_base import ClusterRun, Stream
from testkit.waiting import eventually

RATE = "150"  # readings/s: modest, the machine has 2 cores for 3 JVMs and the rest
WARM_UP = 300  # stored readings of the stream before the fault
BROKER_DOWN_S = 10.0
WORKER_CUT_S = 20.0
WEBNODE_CUT_S = 15.0
POSTGRES_DOWN_S = 10.0
WEBNODE_DOWN_S = 10.0
_LIVE_CLIENTS = re.compile(r"^telering_live_clients (\S+)$", re.M)
RESUMED_READINGS = 150  # stored after a web node kill: a second of the stream, not one late batch


def _stream(run: ClusterRun, seconds: float) -> Stream:
    stream = run.stream("--duration", str(seconds), "--rate", RATE)
    stream.wait_stored(WARM_UP, timeout=120)
    return stream


def _hold(seconds: float, condition: Callable[[], object] | None = None) -> float:
    """Keep a fault on for `seconds` (and until `condition`, if given); how long it was on."""
    started = time.monotonic()
    eventually(
        lambda: time.monotonic() - started >= seconds and (condition is None or condition()),
        timeout=seconds + 90,
        interval=0.2,
    )
    return round(time.monotonic() - started, 1)


def broker_leader_kill(run: ClusterRun) -> ScenarioResult:
    """kill -9 of the broker leading most `readings` partitions; restarted after BROKER_DOWN_S."""
    eventually(run.view.fully_replicated, timeout=120, interval=1.0, message="the ISR is not full")
    stream = _stream(run, 45)
    victim = eventually(run.view.leading_broker, timeout=60)
    node_id = int(victim.service.environment["KAFKA_NODE_ID"])
    stream.evidence.update(killed=victim.name, leaders_before=dict(eventually(run.view.leaders, timeout=60)))
    stored_at_kill = stream.stored()
    victim.kill()
    try:  # down for BROKER_DOWN_S at least, and until the others lead and the pipeline stored without it
        stream.evidence["outage_s"] = _hold(
            BROKER_DOWN_S, lambda: node_id not in run.view.leaders() and stream.stored() > stored_at_kill
        )
        stream.evidence["leaders_during"] = dict(eventually(run.view.leaders, timeout=60))
        stream.evidence["stored_during_outage"] = stream.stored() - stored_at_kill
    finally:
        victim.start()
    lifted = time.monotonic()
    recovery = stream.caught_up(lifted)
    victim.wait_healthy()
    eventually(run.view.fully_replicated, timeout=120, interval=1.0, message="the ISR never refilled")
    stream.evidence["isr_refilled_s"] = round(time.monotonic() - lifted, 1)
    return stream.finish("broker-leader-kill", recovery)


def worker_isolated(run: ClusterRun) -> ScenarioResult:
    """One worker host's link cut for WORKER_CUT_S: its receivers move to the others; back, it
    never writes with a stale grant (the fence refuses it: 409, nothing stored twice)."""
    run.wait_ready()
    stream = _stream(run, 50)
    owned = run.view.owned()
    victim = next(h for h in run.workers() if h is not run.view.leader_worker() and owned.get(h.name))
    stream.evidence.update(isolated=victim.name, owned_before={k: sorted(v or ()) for k, v in owned.items()})
    victim.link(False)
    others = [h for h in run.workers() if h is not victim]

    def moved() -> bool:
        now = run.view.owned()
        return sum(len(now.get(h.name) or ()) for h in others) == sum(len(v or ()) for v in owned.values())

    try:
        stream.evidence["cut_s"] = _hold(WORKER_CUT_S, moved)
        stream.evidence["owned_during"] = {h.name: sorted(run.view.owned().get(h.name) or ()) for h in others}
    finally:
        victim.link(True)
    lifted, mark = time.monotonic(), len(victim.log_text())
    recovery = stream.caught_up(lifted)
    stream.evidence["owned_after"] = {k: sorted(v or ()) for k, v in run.wait_ready().items()}
    result = stream.finish("worker-isolated", recovery)
    result.evidence["refused_after_rejoin"] = victim.log_text()[mark:].count("refused the grant")
    return result


def webnode_isolated(run: ClusterRun) -> ScenarioResult:
    """The `web-node` service's link cut (the balancer: every replica out of the workers' reach) for
    WEBNODE_CUT_S: the workers keep their readings buffered and unacked."""
    stream = _stream(run, 40)
    web = run.cluster.replicas("web-node")[0]
    web.link(False)
    try:
        before = stream.stored()
        stream.evidence["cut_s"] = _hold(WEBNODE_CUT_S)
        stream.evidence["stored_during_cut"] = stream.stored() - before
    finally:
        web.link(True)
    return stream.finish("webnode-isolated", stream.caught_up(time.monotonic()))


def webnode_kill(run: ClusterRun) -> ScenarioResult:
    """kill -9 of one web node replica's host while readings flow: the balancer sends every
    request to the other (a refused connection marks it down; a request in flight is retried
    there), and a live client through the balancer reconnects by itself and keeps receiving.
    The replica is started again after WEBNODE_DOWN_S."""
    stream = _stream(run, 40)
    view = run.view
    with LiveListener(view.web_url, run.cluster.reader_token, view.ca_file, stream.prefix) as live:
        # connected: what it receives before the kill depends on which replica stored what (until
        # every replica pushes every stored reading); after it, all comes through the survivor
        eventually(lambda: live.received().connected_at, timeout=30, message="the live client never connected")
        # the victim is the replica the balancer put the live client on, so that it must reconnect
        victim = eventually(lambda: _holding_live_clients(view), timeout=30, message="no replica holds the socket")
        stored_at_kill, marks = stream.stored(), {h.name: len(h.log_text()) for h in run.workers()}
        victim.kill()
        killed_at = time.monotonic()
        stream.evidence.update(killed_web_node=victim.name, survivor=[h.name for h in view.web_nodes() if h.alive])
        eventually(lambda: stream.stored() >= stored_at_kill + RESUMED_READINGS, timeout=60, interval=0.1)
        stream.evidence["resumed_s"] = round(time.monotonic() - killed_at, 2)
        stream.evidence["down_s"] = _hold(WEBNODE_DOWN_S, lambda: _live_after(live, killed_at))
        got = live.received()
        stream.evidence["live"] = {
            "sockets": len(got.connected_at),
            "reconnected_after_s": next((round(t - killed_at, 2) for t in got.connected_at if t > killed_at), None),
            "received_after_kill": sum(1 for *_, t in got.readings if t > killed_at),
            # the push delivers each reading once, across the reconnect too
            "received_twice": len(got.readings) - len({(sensor, seq) for sensor, seq, _ in got.readings}),
        }
    # what reached the workers as a failed request (haproxy retries on the survivor the rest)
    stream.evidence["worker_retries"] = sum(
        h.log_text()[marks[h.name] :].count("web node unavailable") for h in run.workers()
    )
    victim.start()
    recovery = stream.caught_up(time.monotonic())
    victim.wait_healthy()
    return stream.finish("webnode-kill", recovery)


def _holding_live_clients(view: ClusterView) -> Host | None:
    for host in view.web_nodes():
        try:
            found = _LIVE_CLIENTS.search(view.replica(host, "/metrics"))
        except OSError:
            continue
        if found and float(found.group(1)) >= 1:
            return host
    return None


def _live_after(live: LiveListener, since: float) -> bool:
    """The live client received readings after `since` (on whichever socket it holds now)."""
    return any(t > since for *_, t in live.received().readings)


def postgres_restart(run: ClusterRun) -> ScenarioResult:
    """PostgreSQL stopped (the image's stop signal, SIGINT) for POSTGRES_DOWN_S, then started again."""
    stream = _stream(run, 40)
    postgres = run.cluster.replicas("postgres")[0]
    postgres.stop()
    stream.evidence["down_s"] = _hold(POSTGRES_DOWN_S)
    postgres.start()
    recovery = stream.caught_up(time.monotonic())
    postgres.wait_healthy()
    return stream.finish("postgres-restart", recovery)


def host_freeze(run: ClusterRun) -> ScenarioResult:
    """SIGSTOP of every process of the worker host leading the ring, past the grant TTL, then SIGCONT."""
    run.wait_ready()
    ttl = float(run.workers()[0].service.environment["GRANT_TTL_S"])
    freeze_s = max(15.0, 3 * ttl)
    stream = _stream(run, 50)
    victim = run.view.leader_worker() or run.workers()[0]
    fence_before = run.view.fence_epoch()
    stream.evidence.update(frozen=victim.name, processes=victim.freeze(), grant_ttl_s=ttl)
    try:
        stream.evidence["frozen_s"] = _hold(freeze_s)
    finally:
        victim.thaw()
    lifted, mark = time.monotonic(), len(victim.log_text())
    recovery = stream.caught_up(lifted)
    stream.evidence["fence"] = [fence_before, run.view.fence_epoch()]
    run.wait_ready()
    result = stream.finish("host-freeze", recovery)
    result.evidence["refused_after_thaw"] = victim.log_text()[mark:].count("refused the grant")
    return result


def rolling_restart(run: ClusterRun) -> ScenarioResult:
    """Each broker in turn stopped cleanly and started again, the next only once every partition
    is fully replicated again (how a rolling restart is done)."""
    eventually(run.view.fully_replicated, timeout=120, interval=1.0, message="the ISR is not full")
    stream = _stream(run, 90)
    took = {}
    for broker in run.cluster.brokers():
        started = time.monotonic()
        broker.stop()
        broker.start()
        broker.wait_healthy()
        eventually(run.view.fully_replicated, timeout=120, interval=1.0, message=f"ISR after {broker.name}")
        took[broker.name] = round(time.monotonic() - started, 1)
    stream.evidence["restart_s"] = took
    return stream.finish("rolling-restart", stream.caught_up(time.monotonic()))


FAULTS: dict[str, Callable[[ClusterRun], ScenarioResult]] = {
    "broker-leader-kill": broker_leader_kill,
    "worker-isolated": worker_isolated,
    "webnode-isolated": webnode_isolated,
    "webnode-kill": webnode_kill,
    "postgres-restart": postgres_restart,
    "host-freeze": host_freeze,
    "rolling-restart": rolling_restart,
}


def scale(run: ClusterRun, workers: int, count: int) -> dict:
    """stored/s with `workers` worker hosts in a settled group (the others stopped): `count`
    readings queued while the web node's link is cut (the simulator host, as fast as it can; the
    workers read and buffer them), then the link restored and the drain timed between 10 % and
    90 % of the count stored, so neither the producer sharing the cores nor a rebalance sets it."""
    for i, host in enumerate(run.workers()):
        if i < workers and not host.alive:
            host.start()
        elif i >= workers and host.alive:
            host.stop()
    run.wait_ready(timeout=180)
    web = run.cluster.replicas("web-node")[0]
    web.link(False)
    try:
        stream = run.stream("--count", str(count), "--rate", "0")
        summary = stream.summary()
    finally:
        web.link(True)
    sent = summary["sent_valid"]
    samples: list[tuple[float, int]] = []

    def drained() -> bool:
        samples.append((time.monotonic(), stream.stored()))
        return samples[-1][1] >= sent

    eventually(drained, timeout=600, interval=0.25, message=f"the drain with {workers} worker(s) never finished")
    lo = next(s for s in samples if s[1] >= 0.1 * sent)
    hi = next(s for s in samples if s[1] >= 0.9 * sent)
    return {
        "workers": workers,
        "sent": sent,
        "stored": stream.stored(),
        "offered_per_s": round(summary["rate"], 1),
        "stored_per_s": round((hi[1] - lo[1]) / (hi[0] - lo[0]), 1) if hi[0] > lo[0] else None,
    }
