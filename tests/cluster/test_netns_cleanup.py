"""The namespace hosts without services: names resolve host to host over the bridge, a link
cut really cuts, and nothing is left behind — after close(), after SIGTERM of the process that
made them, and from an earlier run (the sweep). Root only (skips otherwise)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from testkit.cluster import netns
from testkit.cluster.cluster import Cluster
from testkit.waiting import eventually

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


@pytest.fixture(autouse=True)
def _root() -> None:
    if reason := netns.unavailable_reason():
        pytest.skip(reason)


def _leftovers() -> list[str]:
    names = [line.split()[0] for line in netns.ip("netns", "list").splitlines() if line.strip()]
    links = [line.split(":")[1].strip().split("@")[0] for line in netns.ip("-o", "link", "show").splitlines()]
    return [n for n in names + links if n.startswith(netns.PREFIX)]


def test_hosts_reach_each_other_by_name_a_cut_cuts_and_close_removes_everything(tmp_path: Path):
    netns.ip("netns", "add", f"{netns.PREFIX}-stray")  # what an interrupted run would have left
    cluster = Cluster(tmp_path, scale={"worker": 2})
    try:
        cluster.up(services=[])  # bridge and hosts, no service started
        assert f"{netns.PREFIX}-stray" not in _leftovers(), "the sweep removed the earlier run's namespace"
        worker, kafka2 = cluster.host("worker-2"), cluster.host("kafka-2")
        # a TCP SYN to a closed port: refused (an answer came back) or nothing (the link is cut)
        probe = "import errno, socket; s = socket.socket(); s.settimeout(2); "
        probe += "exit(0 if s.connect_ex(('kafka-2', 9)) in (0, errno.ECONNREFUSED) else 1)"
        ping = [sys.executable, "-c", probe]
        env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
        resolved = worker.run(["getent", "hosts", "kafka-2"], env=env)
        assert resolved.stdout.split()[0] == kafka2.address
        assert worker.run(["hostname"], env=env).stdout.strip() == "worker-2"
        assert worker.run(ping, env=env).returncode == 0
        kafka2.link(False)
        assert worker.run(ping, env=env).returncode != 0, "a cut link carries nothing"
        kafka2.link(True)
        eventually(lambda: worker.run(ping, env=env).returncode == 0, timeout=20, interval=0.5)
        assert worker.run(["ip", "route"], env=env).stdout.strip().startswith(f"{netns.SUBNET}.0/24"), "no route out"
    finally:
        cluster.close()
    assert _leftovers() == []


def test_sigterm_of_the_owner_removes_its_hosts(tmp_path: Path):
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from testkit.cluster.cluster import Cluster
        cluster = Cluster(Path({str(tmp_path)!r}))
        cluster.up(services=[])
        print("up", flush=True)
        while True:
            time.sleep(1)  # until the SIGTERM
        """
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        assert len(_leftovers()) > 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _leftovers() == []
