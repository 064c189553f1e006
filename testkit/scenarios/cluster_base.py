"""What the cluster's fault scenarios share: a simulator run on the cluster's simulator host, the
observers (token topic, readings backlog, the fence), and the exact count per sensor.

Each run gets its own sensor prefix (`r<N>-`), so several scenarios share one cluster and each
counts only its own readings: sent (the simulator's summary) against stored (PostgreSQL).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError

from protocol.keyring import Keyring
from protocol.keys import read_key_file
from protocol.topics import TOKEN
from testkit import integrity
from testkit.cluster.cluster import Cluster
from testkit.cluster.hosts import Host
from testkit.cluster.observe import READINGS, ClusterView
from testkit.integrity import ScenarioResult
from testkit.observers import TokenWatcher, TopicCounter
from testkit.waiting import eventually

GROUP = "telering-receivers"  # stream_app.consumer.group_id of the compose app id (TELERING_APP_ID unset)
_REFUSED = re.compile(r'^telering_batches_refused_total\{reason="([^"]+)"\} (\S+)$', re.M)


class ClusterRun:
    """One cluster under test, with its observers; `stream()` starts a counted simulator run."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.view = ClusterView(cluster)
        keys = cluster.secrets_dir / "telering.keys"
        self.token = TokenWatcher(self.view.bootstrap, TOKEN, Keyring(read_key_file(keys), keys), self.view.options)
        self.token.__enter__()
        self.topic = TopicCounter(self.view.bootstrap, READINGS, GROUP, self.view.options)
        self._runs = itertools.count(1)

    def close(self) -> None:
        self.topic.close()
        self.token.__exit__()
        self.view.close()

    @property
    def simulator(self) -> Host:
        return self.cluster.replicas("simulator")[0]

    def workers(self) -> list[Host]:
        return self.cluster.replicas("worker")

    def stream(self, *args: str) -> Stream:
        """The simulator service's command, with run-length options appended (`--duration S`, `--count N`,
        `--rate R`): a `docker compose run simulator …` of it."""
        n = next(self._runs)
        host = self.simulator
        if host.alive:
            raise RuntimeError("the simulator host is still running the previous stream")
        summary = host.fs.path(f"/home/telering/summary-{n}.json")
        host.extra_args = ["--sensor-prefix", f"r{n}-", "--seed", str(n), "--summary-json", str(summary), *args]
        marks = Marks(
            self.token.last_offset,
            {h.name: len(h.log_text()) for h in self.workers()},
            self.refusals(),
            self.counted_by_web(),
            int(eventually(lambda: self.view.rows("SELECT count(*) FROM readings"), timeout=60)[0][0]),
        )
        host.start()
        return Stream(self, host, f"r{n}-", summary, marks)

    def topic_messages(self) -> int:
        """What `readings` holds (its end offsets), asked again while a broker is failing over."""
        return eventually(self.topic.messages, timeout=90, interval=1.0, retry_on=(AssertionError, KafkaError)) or 0

    def stored_total(self) -> int:
        return self.view.stored()

    def counted_by_web(self) -> dict[str, int]:
        """Each live web node replica's stored counter (the sum of `stored` over its 200 answers)."""
        return {
            host.name: integrity.stored_counter(
                eventually(lambda host=host: self.view.replica(host, "/metrics"), timeout=60, retry_on=(OSError,))
            )
            for host in self.view.web_nodes()
            if host.alive
        }

    def refusals(self) -> dict[str, float]:
        """Refused batches by reason, summed over the live replicas."""
        total: dict[str, float] = {}
        for host in self.view.web_nodes():
            try:
                text = self.view.replica(host, "/metrics") if host.alive else ""
            except OSError:
                continue
            for code, n in _REFUSED.findall(text):
                if float(n):
                    total[code] = total.get(code, 0.0) + float(n)
        return total

    def worker_logs(self) -> str:
        return "".join(h.log_text() for h in self.workers())

    def wait_ready(self, timeout: float = 120.0) -> dict[str, set[int]]:
        """Until every live worker is healthy and the live ones share all receivers."""
        partitions = int(self.workers()[0].service.environment["READINGS_PARTITIONS"])

        def settled() -> dict[str, set[int]] | None:
            owned = {k: v for k, v in self.view.owned().items() if self.cluster.host(k).alive}
            if any(v is None for v in owned.values()):
                return None
            if sorted(itertools.chain.from_iterable(owned.values())) != list(range(partitions)):
                return None
            return owned if self.view.leader_worker() is not None else None

        return eventually(settled, timeout=timeout, interval=1.0, message="the workers never shared the receivers")


@dataclass(frozen=True)
class Marks:
    """Where the token topic, the workers' logs, the web node's refusals and stored counter, and the
    stored rows stood at a stream's start."""

    token_offset: int
    log_lengths: dict[str, int]
    refusals: dict[str, float]
    counted_by_web: dict[str, int]  # per replica
    rows: int


@dataclass
class Stream:
    run: ClusterRun
    host: Host
    prefix: str
    summary_path: Any
    marks: Marks
    evidence: dict[str, Any] = field(default_factory=dict)

    def stored(self) -> int:
        return self.run.view.stored(self.prefix)

    def wait_stored(self, n: int, timeout: float = 120.0) -> None:
        eventually(lambda: self.stored() >= n, timeout=timeout, interval=0.5, message=f"{self.prefix}: stored < {n}")

    def caught_up(self, since: float, timeout: float = 180.0) -> float | None:
        """Seconds from `since` (time.monotonic) until everything the topic held now is stored."""
        target = self.run.topic_messages()
        try:
            eventually(lambda: self.run.stored_total() >= target, timeout=timeout, interval=0.3)
        except AssertionError:
            self.evidence["recovery_timeout"] = f"stored {self.run.stored_total()} of {target}"
            return None
        return round(time.monotonic() - since, 2)

    def _counted_by_web(self) -> int | None:
        """What the replicas counted since the stream began; None once one was killed during it: its
        counter died with it, and what it stored last may be stored but never counted."""
        if self.evidence.get("killed_web_node"):
            self.evidence["web_counter"] = f"not compared: {self.evidence['killed_web_node']} was killed (kill -9)"
            return None
        now = self.run.counted_by_web()
        return sum(n - self.marks.counted_by_web.get(name, 0) for name, n in now.items())

    def summary(self, timeout: float = 600.0) -> dict:
        eventually(lambda: not self.host.alive, timeout=timeout, interval=0.5, message="the simulator did not finish")
        if not self.summary_path.exists():
            raise RuntimeError(f"the simulator wrote no summary:\n{self.host.log_tail()}")
        return json.loads(self.summary_path.read_text())

    def finish(self, name: str, recovery_s: float | None, wait_s: float = 180.0) -> ScenarioResult:
        """Let the stream end, wait for the store, and count sensor by sensor."""
        summary = self.summary()
        try:
            self.wait_stored(summary["sent_valid"], timeout=wait_s)
        except AssertionError as exc:
            self.evidence["wait_stored"] = str(exc)[:300]
        self.run.token.sync()
        epochs = [g.epoch for g in self.run.token.grants(self.marks.token_offset)]
        logs = "".join(h.log_text()[self.marks.log_lengths.get(h.name, 0) :] for h in self.run.workers())
        refused = self.run.refusals()
        self.evidence.update(
            simulator_failed=summary["failed"],
            grants=len(epochs),
            # a coordinator that was frozen or cut off may sign a grant or two below the new
            # leader's epochs before it learns it lost the lead: the web node's fence refuses them
            grant_epochs_increasing=all(b > a for a, b in itertools.pairwise(epochs)),
            grant_epoch_drops=sum(b <= a for a, b in itertools.pairwise(epochs)),
            refused_401=logs.count("refused the grant (401"),
            refused_409=logs.count("refused the grant (409"),
            web_refused={
                k: v - self.marks.refusals.get(k, 0) for k, v in refused.items() if v > self.marks.refusals.get(k, 0)
            },
        )
        doubles = integrity.settled(
            lambda: integrity.check(self.run.view.rows, "postgresql", self._counted_by_web(), self.marks.rows)
        )
        self.evidence["sensors"] = len(summary["per_sensor"])
        keys = self.run.view.stored_keys(self.prefix)
        return integrity.tally(name, [summary], keys, doubles, recovery_s, self.evidence)
