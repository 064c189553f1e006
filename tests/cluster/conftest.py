"""The cluster of network-namespace hosts (testkit.cluster), one per test module: the compose
deployment with docker-compose.kafka3.yml, three workers. Needs root (ip netns), java, the Kafka
jars and PostgreSQL's server; without root the tests skip and say why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.cluster.cluster import Cluster
from testkit.cluster.netns import unavailable_reason
from testkit.scenarios.cluster_base import ClusterRun

VARIABLES = {"GRANT_TTL_S": "5", "SIM_SENSORS": "24"}


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterRun]:
    if reason := unavailable_reason():
        pytest.skip(reason)
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), scale={"worker": 3}, variables=VARIABLES)
    run = None
    try:
        cluster.up([s for s in cluster.project.services if s != "simulator"])
        cluster.wait_healthy()
        run = ClusterRun(cluster)
        yield run
    finally:
        if run is not None:
            run.close()
        cluster.close()
