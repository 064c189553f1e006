"""Several workers on one host with one environment: each takes a web port of its own.

Needs: the session's real Apache Kafka broker, a real web node process on a loopback port with a
real SQLite file, two real worker processes (`python -m stream_app`) and the simulator.
"""

from __future__ import annotations

import socket
import subprocess
import sys

from protocol.keys import add_key
from testkit.observers import owned, wait_split
from testkit.processes import child_env, health


def test_two_workers_with_one_environment_take_their_own_ports_and_share_the_receivers(pipeline_factory):
    partitions = 4
    harness = pipeline_factory(partitions=partitions)
    harness.start_web_node()
    procs = [harness.start_worker(own_port=False) for _ in range(2)]
    assert procs[0].env == procs[1].env and "WORKER_WEB_PORT" not in procs[0].env
    assert procs[0].health_url != procs[1].health_url

    wait_split(procs, partitions, harness.app_id)
    for proc in procs:
        harness.wait_worker_ready(proc)
        status, body = health(proc) or (None, {})
        assert status == 200 and proc.health_url == f"http://127.0.0.1:{body['web_port']}/healthz", body
        assert body["web_port"] >= 6066
        assert owned(proc), f"{proc.name} owns no receiver"

    summary = harness.simulate("--sensors", "8", "--count", "2000", "--rate", "0", "--seed", "21")
    harness.wait_stored(summary["sent_valid"])
    assert harness.stored() == summary["sent_valid"] == 2000
    assert all(p.alive for p in procs)


def test_an_explicitly_set_busy_port_is_a_start_up_error_naming_the_variable(tmp_path):
    keys = tmp_path / "telering.keys"
    add_key(keys)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = child_env(
            {"TELERING_KEYS_FILE": str(keys), "KAFKA_BOOTSTRAP": "127.0.0.1:9", "WORKER_WEB_PORT": str(port)}
        )
        done = subprocess.run(
            [sys.executable, "-m", "stream_app"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert len(output.splitlines()) == 1 and f"WORKER_WEB_PORT={port}" in output, output
    assert "Traceback" not in output
