"""The whole pipeline secured: Kafka over SASL_SSL (SCRAM), the web node over HTTPS, reads with a
reader token; and the clear start-up errors of a wrong password or an untrusted certificate.

Needs: the `secure_kafka` session broker (kafka_local, a SASL_SSL listener with its own CA and
SCRAM users), real worker / web node / simulator processes, `curl` and `openssl` as real TLS
clients.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import requests

from kafka_local import certs
from kafka_local.secure import CLIENT_USER, PRODUCER_USER
from protocol.settings import Settings
from testkit.pipeline import PipelineHarness, WebTls
from testkit.processes import ManagedProcess, python_argv
from testkit.waiting import eventually
from tests.support.pipeline import stored_exactly_once

pytestmark = pytest.mark.kafka


@pytest.fixture
def secure_harness(secure_kafka, tmp_path: Path):
    harness = PipelineHarness(
        bootstrap=secure_kafka.bootstrap,
        workdir=tmp_path / "pipeline",
        kafka_env=secure_kafka.client_env(CLIENT_USER),  # the workers' login
        producer_env=secure_kafka.client_env(PRODUCER_USER),  # the simulator's: it may only write readings
        web_tls=WebTls.make(tmp_path / "web-tls"),
        read_auth=True,
    )
    # the broker's StandardAuthorizer lets each role do only what its ACLs say, on this pipeline's topics
    secure_kafka.grant_roles(Settings(telering_topic_prefix=harness.prefix, telering_app_id=harness.app_id))
    yield harness
    harness.stop()


def test_sasl_ssl_and_https_end_to_end_with_exact_counts(secure_harness: PipelineHarness):
    harness = secure_harness
    assert harness.web_url.startswith("https://")
    _, (worker,) = harness.start()
    summary = harness.simulate(
        "--sensors", "6", "--count", "3000", "--rate", "0", "--seed", "5", "--invalid-fraction", "0.05"
    )
    assert summary["invalid"] > 0

    stored_exactly_once(harness, summary)
    stored = Counter(sensor for sensor, _ in harness.stored_keys())
    assert len(harness.dlq_messages()) == summary["invalid"]  # read back over SASL_SSL too

    # the read API over HTTPS with the reader token agrees with the database
    answer = requests.get(
        f"{harness.web_url}/api/v1/sensors", headers=harness.read_headers, verify=harness.verify, timeout=10
    )
    assert answer.status_code == 200
    assert {s["sensor_id"]: s["count"] for s in answer.json()["sensors"]} == dict(stored)
    assert worker.alive
    assert "Authenticated as telering via SCRAM-SHA-512" in harness.all_worker_logs()


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("openssl")), reason="needs curl and openssl")
def test_real_tls_clients_verify_the_web_node(secure_harness: PipelineHarness):
    harness = secure_harness
    harness.start_web_node()
    assert harness.web_tls is not None and harness.reader_token is not None
    url = f"{harness.web_url}/api/v1/sensors"
    ca = str(harness.web_tls.ca_file)

    def curl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True)

    ok = curl("--cacert", ca, "-H", f"Authorization: Bearer {harness.reader_token}", url)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"sensors": [], "next_after": None}
    refused = curl("--cacert", ca, "-w", "\n%{http_code}", url)
    assert refused.stdout.splitlines()[-1] == "401"
    assert json.loads(refused.stdout.splitlines()[0])["error"] == "reader_token_missing"
    untrusted = curl(url)  # the system's trust store does not know the deployment's CA
    assert untrusted.returncode == 60, untrusted  # curl: peer certificate cannot be authenticated

    handshake = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{harness.web_port}", "-CAfile", ca, "-verify_return_error"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert handshake.returncode == 0 and "Verify return code: 0 (ok)" in handshake.stdout, handshake.stdout[-2000:]


def _wrong_password(broker, tmp_path: Path) -> dict[str, str]:
    env = broker.client_env()
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    return {**env, "KAFKA_SASL_PASSWORD_FILE": str(wrong)}


def _untrusted_ca(broker, tmp_path: Path) -> dict[str, str]:
    other = tmp_path / "other-ca.crt"
    certs.new_ca("some other CA").write_pem(other)
    return {**broker.client_env(), "KAFKA_SSL_CAFILE": str(other)}


CASES = {
    "wrong-password": (_wrong_password, "KAFKA_SASL_PASSWORD_FILE", "refused these credentials"),
    "untrusted-ca": (_untrusted_ca, "KAFKA_SSL_CAFILE", "is not trusted"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_credentials_are_a_clear_start_up_error_of_every_part(secure_kafka, tmp_path: Path, case: str):
    make_env, setting, words = CASES[case]
    harness = PipelineHarness(
        bootstrap=secure_kafka.bootstrap, workdir=tmp_path / "pipeline", kafka_env=make_env(secure_kafka, tmp_path)
    )
    try:
        worker = harness.start_worker()
        eventually(lambda: not worker.alive, timeout=60, message="the worker kept running with bad credentials")
        assert worker.proc is not None and worker.proc.returncode != 0
        assert setting in worker.log_text() and words in worker.log_text()

        for argv in (python_argv("simulator", "--count", "10", "--quiet"), python_argv("protocol.topics_cli")):
            done = subprocess.run(argv, env=harness.env, capture_output=True, text=True, timeout=120)
            assert done.returncode != 0
            assert setting in done.stderr and words in done.stderr, done.stderr[-2000:]
    finally:
        harness.stop()


def test_half_a_tls_configuration_is_a_start_up_error(tmp_path: Path):
    """The web node refuses to start on half a TLS configuration, naming the missing setting."""
    tls = WebTls.make(tmp_path / "tls")
    harness = PipelineHarness(bootstrap="127.0.0.1:9", workdir=tmp_path / "pipeline")
    env = {**harness.env, "WEB_NODE_TLS_CERT": str(tls.cert_file)}
    proc = ManagedProcess("web", python_argv("web_node"), env, tmp_path / "web.log").start()
    try:
        assert proc.proc is not None and proc.proc.wait(60) == 2
        assert "WEB_NODE_TLS_KEY is unset" in proc.log_text()
    finally:
        proc.stop()
