"""Fault scenarios on real processes, shared by `tests/faults` and `python -m benchmarks.faults`.

Each scenario starts a web node and worker(s) on a broker, streams readings (the real simulator,
and for some real foreign producers), injects its fault mid-stream and ends by counting: every
valid reading sent must be stored exactly once. `recovery_s` is the time from the fault's end
until the stored count caught up with everything the `readings` topic held at that moment. Each
result also carries the evidence its test asserts on (epochs, refusals, who held the token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit.pipeline import PipelineHarness
from testkit.scenarios import hostile, single_host
from testkit.scenarios.base import OUTAGE_S, PAUSE_TTL_S, ScenarioResult

__all__ = ["OUTAGE_S", "SCENARIOS", "Scenario", "ScenarioResult", "run_scenario"]


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[..., ScenarioResult]
    options: dict[str, Any] = field(default_factory=dict)  # PipelineHarness keyword arguments
    private_broker: bool = False


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("worker-kill", single_host.worker_kill),
        Scenario("webnode-kill", single_host.webnode_kill),
        Scenario("broker-restart", single_host.broker_restart, private_broker=True),
        Scenario("rebalance", single_host.rebalance),
        Scenario("paused-receiver", single_host.paused_receiver, {"grant_ttl_s": PAUSE_TTL_S}),
        Scenario("leader-failover", single_host.leader_failover),
        Scenario("foreign-producers", hostile.foreign_producers),
        Scenario("token-forgery", hostile.token_forgery, {"grant_ttl_s": hostile.FORGERY_TTL_S}),
        Scenario("presence-replay", hostile.presence_replay),
        Scenario("keyfile-rewrite", hostile.keyfile_rewrite),
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
