"""The compose deployment (docker-compose.yml + docker-compose.kafka3.yml) as namespace hosts:
its topology, and three faults that `make test` runs (the others: `python -m benchmarks.cluster`).

Real services: three KRaft brokers from the Kafka jars, Debian's PostgreSQL, two web node replicas
behind Debian's haproxy (the `web-node` service, compose/haproxy.cfg), three workers and the
simulator, each in its own network namespace on the bridge tlr-br0."""

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
    replicas = view.web_nodes()
    assert [h.name for h in replicas] == ["web-node-1", "web-node-2"]
    for web in replicas:
        assert web.service.environment["DATABASE_URL"].startswith("postgresql+asyncpg://telering@postgres:5432/")
    assert cluster.host("web-node").service.image_name == "haproxy"
    # through the balancer: TLS with the web node's certificate, health open, reads need a token
    assert view.web("/healthz", auth=False).status_code == 200
    assert view.web("/api/v1/sensors", auth=False).status_code == 401, "reads need a reader token"
    alive = {h.name for h in cluster.hosts.values() if h.alive}
    assert alive >= {"kafka", "kafka-2", "kafka-3", "postgres", "web-node", "web-node-1", "web-node-2"}
    for host in cluster.hosts.values():
        if host.service.healthcheck is not None and host.alive:
            assert host.healthy(), host.name

    stream = cluster_run.stream("--count", "600", "--rate", "200")
    result = stream.finish("small-load", recovery_s=None)
    _exact(result)
    assert view.stored(stream.prefix) == 600
    sensors = view.web("/api/v1/sensors").json()["sensors"]
    assert sum(s["count"] for s in sensors if s["sensor_id"].startswith(stream.prefix)) == 600
    counted = {name: n - stream.marks.counted_by_web.get(name, 0) for name, n in cluster_run.counted_by_web().items()}
    assert sum(counted.values()) == 600, f"the replicas counted {counted}"


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


def test_webnode_kill(cluster_run: ClusterRun):
    result = FAULTS["webnode-kill"](cluster_run)
    _exact(result)
    evidence = result.evidence
    assert evidence["survivor"] and evidence["killed_web_node"] not in evidence["survivor"], evidence
    assert evidence["resumed_s"] is not None, "ingestion went on through the other replica"
    live = evidence["live"]
    assert live["reconnected_after_s"] is not None, f"the live client never reconnected: {live}"
    assert live["received_after_kill"] > 0, f"the live client received nothing after the kill: {live}"
    assert live["received_twice"] == 0, f"the live push delivered readings twice: {live}"
    assert result.recovery_s is not None
    assert all(h.healthy() for h in cluster_run.view.web_nodes()), "the killed replica is back"
