"""The compose deployment (docker-compose.yml + docker-compose.kafka3.yml) as namespace hosts:
its topology, and two faults that `make test` runs (the other four: `python -m benchmarks.cluster`).

Real services: three KRaft brokers from the Kafka jars, Debian's PostgreSQL, the web node, three
workers and the simulator, each in its own network namespace on the bridge tlr-br0."""

from __future__ import annotations

import pytest

from testkit.integrity import ScenarioResult, assert_exactly_once
from testkit.scenarios.cluster import FAULTS
from testkit.scenarios.cluster_base import ClusterRun

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


def _exact(result: ScenarioResult) -> None:
    assert_exactly_once(result)
    assert result.evidence["grant_epochs_increasing"], result.evidence


def test_topology_three_brokers_rf3_three_workers_postgres(cluster_run: ClusterRun):
    view, cluster = cluster_run.view, cluster_run.cluster
    assert view.brokers_in_metadata() == {1, 2, 3}
    partitions = view.partitions()
    assert len(partitions) == 6
    for p in partitions:
        assert len(p["replica_nodes"]) == 3 and len(p["isr_nodes"]) == 3, p
    assert view.topic_config()["min.insync.replicas"] == "2"
    assert set(view.leaders()) == {1, 2, 3}, "the leaders spread over the three brokers"
    owned = cluster_run.wait_ready()
    assert len(owned) == 3 and all(owned.values()), owned
    web = cluster.replicas("web-node")[0]
    assert web.service.environment["DATABASE_URL"].startswith("postgresql+asyncpg://telering@postgres:5432/")
    assert view.web("/healthz", auth=False).status_code == 200
    assert view.web("/api/v1/sensors", auth=False).status_code == 401, "reads need a reader token"
    assert {h.name for h in cluster.hosts.values() if h.alive} >= {"kafka", "kafka-2", "kafka-3", "postgres"}
    for host in cluster.hosts.values():
        if host.service.healthcheck is not None and host.alive:
            assert host.healthy(), host.name

    stream = cluster_run.stream("--count", "600", "--rate", "200")
    result = stream.finish("small-load", recovery_s=None)
    _exact(result)
    assert view.stored(stream.prefix) == 600
    sensors = view.web("/api/v1/sensors").json()["sensors"]
    assert sum(s["count"] for s in sensors if s["sensor_id"].startswith(stream.prefix)) == 600


def test_broker_leader_kill(cluster_run: ClusterRun):
    result = FAULTS["broker-leader-kill"](cluster_run)
    _exact(result)
    killed = int(cluster_run.cluster.host(result.evidence["killed"]).service.environment["KAFKA_NODE_ID"])
    assert killed not in result.evidence["leaders_during"], "leadership moved off the killed broker"
    assert result.evidence["stored_during_outage"] > 0, "RF 3, min ISR 2: the pipeline kept storing"
    assert result.recovery_s is not None


def test_worker_isolated(cluster_run: ClusterRun):
    result = FAULTS["worker-isolated"](cluster_run)
    _exact(result)
    others = result.evidence["owned_during"]
    assert sum(len(v) for v in others.values()) == 6, "the cut worker's receivers moved to the others"
    assert all(result.evidence["owned_after"].values()), "back, it owns receivers again"
    assert result.recovery_s is not None
