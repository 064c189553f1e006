"""testkit.cluster without namespaces: the compose files read as compose reads them, the Kafka
image's environment convention, the path mapping, and the reason given without root. No root,
no services needed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from testkit.cluster import compose, netns
from testkit.cluster.cluster import Cluster
from testkit.cluster.compose import ComposeError, interpolate
from testkit.cluster.hostfs import HostFs
from testkit.cluster.hosts import HostError
from testkit.cluster.images import HAPROXY_CONFIG, health_argv, kafka_properties, launch, mapped_paths


def test_interpolation_follows_compose():
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", env) == "x d d  d"
    assert interpolate("$$(cat f) $SET ${UNSET}", env) == "$(cat f) x "
    assert interpolate("${UNSET:--Xmx1G -Xms1G}", env) == "-Xmx1G -Xms1G"
    with pytest.raises(ComposeError, match="NEEDED"):
        interpolate("${NEEDED:?set it}", env)


def test_the_kafka3_project_in_depends_on_order():
    project = compose.load(variables={"KAFKA_EXTERNAL_HOST": "10.231.0.1"})
    order = project.start_order()
    brokers = [n for n, s in project.services.items() if s.image_name == "apache/kafka"]
    assert sorted(brokers) == ["kafka", "kafka-2", "kafka-3"]
    assert max(order.index(b) for b in brokers) < order.index("topic-init") < order.index("worker")
    assert order.index("postgres") < order.index("web-node-1") < order.index("web-node") < order.index("worker")
    assert order.index("web-node-2") < order.index("web-node")
    worker = project.services["worker"]
    assert worker.environment["KAFKA_BOOTSTRAP"] == "kafka:9092,kafka-2:9092,kafka-3:9092"
    assert worker.depends_on["topic-init"] == "service_completed_successfully"
    assert worker.healthcheck is not None and "6066/healthz" in worker.healthcheck.argv()[-1]
    assert project.services["kafka-2"].ports == [(29093, 29093)]
    assert (
        "EXTERNAL_SASL_SSL://10.231.0.1:29093" in project.services["kafka-2"].environment["KAFKA_ADVERTISED_LISTENERS"]
    )
    web = project.services["web-node-2"]
    assert web.command == ["sh", "-c", 'PGPASSWORD="$(cat /run/secrets/postgres_password)" exec telering-web-node']
    assert web.secrets["/run/secrets/postgres_password"] == "postgres_password"


def test_kafka_environment_becomes_server_properties_as_the_image_does(tmp_path: Path):
    project = compose.load(variables={"KAFKA_EXTERNAL_HOST": "10.231.0.1"})
    service = project.services["kafka-3"]
    fs = HostFs(tmp_path, mapped_paths(service))
    secrets = fs.path("/etc/kafka/secrets")
    secrets.mkdir(parents=True)
    (secrets / "kafka_keystore_password").write_text("s3cret\n")
    env = {**service.environment, "KAFKA_FOO___BAR__BAZ_QUX": "1"}
    props = kafka_properties(env, fs)
    assert props["node.id"] == "3"
    assert props["controller.quorum.voters"] == "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"
    assert props["min.insync.replicas"] == "2" and props["default.replication.factor"] == "3"
    assert props["foo-bar_baz.qux"] == "1"  # ___ -> -, __ -> _, _ -> .
    assert props["ssl.keystore.location"] == str(secrets / "kafka.keystore.p12")
    assert props["ssl.keystore.password"] == props["ssl.key.password"] == "s3cret"
    assert props["ssl.truststore.location"] == str(secrets / "ca.crt")
    assert props["log.dirs"] == str(fs.path("/var/lib/kafka/data"))
    assert "heap.opts" not in props and "opts" not in props  # KAFKA_HEAP_OPTS, KAFKA_OPTS: the JVM's
    del env["KAFKA_SSL_KEYSTORE_CREDENTIALS"]
    with pytest.raises(ComposeError, match="KAFKA_SSL_KEYSTORE_CREDENTIALS"):
        kafka_properties(env, fs)


def test_paths_map_into_the_host_and_the_broker_check_becomes_the_probe(tmp_path: Path):
    project = compose.load()
    fs = HostFs(tmp_path, mapped_paths(project.services["kafka"]))
    assert fs.text("-Djava.security.auth.login.config=/etc/kafka/secrets/kafka_jaas.conf") == (
        f"-Djava.security.auth.login.config={tmp_path}/etc/kafka/secrets/kafka_jaas.conf"
    )
    assert fs.text("/run/secretsX /x/run/secrets/a") == "/run/secretsX /x/run/secrets/a"  # whole paths only
    argv = health_argv(project.services["kafka"], fs, Path("/venv/bin"))
    assert argv[:2] == ["sh", "-c"]
    assert "testkit/cluster/probe.py broker-api-versions --bootstrap-server localhost:9092" in argv[2]
    assert f"--command-config {tmp_path}/etc/kafka/secrets/client.properties" in argv[2]


def test_haproxy_runs_its_own_config_file_with_the_paths_mapped(tmp_path: Path):
    """The haproxy image's stand-in: the compose `configs:` file at the image's path, its secret
    paths moved under the host's root, started as the image's entrypoint starts it."""
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.skip("haproxy not installed (make sysdeps installs it)")
    project = compose.load(variables={"KAFKA_EXTERNAL_HOST": "10.231.0.1"})
    service = project.services["web-node"]
    assert service.configs == {HAPROXY_CONFIG: "haproxy_cfg"}
    assert project.config_files["haproxy_cfg"] == compose.ROOT / "compose" / "haproxy.cfg"
    fs = HostFs(tmp_path, mapped_paths(service))
    config = fs.path(HAPROXY_CONFIG)
    config.parent.mkdir(parents=True)
    config.write_text(project.config_files["haproxy_cfg"].read_text())
    started = launch(service, fs, Path("/venv/bin"))
    assert started.argv[1:] == ["-W", "-db", "-f", str(config)] and started.stop_signal == "SIGUSR1"
    text = config.read_text()
    assert f"ca-file {tmp_path}/run/secrets/ca_crt " in text
    assert f"crt {tmp_path}/usr/local/etc/haproxy/certs/web-node.pem " in text
    assert " /run/secrets" not in text and " /usr/local/etc" not in text
    assert launch(service, fs, Path("/venv/bin")).argv == started.argv
    assert config.read_text() == text, "mapping twice changes nothing"


def test_without_root_up_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in (netns.unavailable_reason() or "")
    with pytest.raises(HostError, match="need root"):
        Cluster(tmp_path).up()
