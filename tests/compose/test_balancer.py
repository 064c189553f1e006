"""compose/: the web node's two replicas behind haproxy (the `web-node` service and
compose/haproxy.cfg), checked by reading them, and the config by haproxy's own `-c` where haproxy
is installed (`make sysdeps`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
CONFIG = COMPOSE / "haproxy.cfg"
REPLICAS = ("web-node-1", "web-node-2")
HAPROXY_CONFIG = "/usr/local/etc/haproxy/haproxy.cfg"


@pytest.fixture(scope="module")
def project() -> dict:
    return yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())


def _lines(section: str) -> list[str]:
    """The lines of one `frontend`/`backend`/`defaults`/`global` section of the config, comments dropped."""
    out, inside = [], False
    for raw in CONFIG.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line and not line[0].isspace():
            inside = line.strip() == section
            continue
        if inside and line.strip():
            out.append(" ".join(line.split()))
    return out


def _secret_targets(service: dict) -> dict[str, str]:
    return {s["source"] if isinstance(s, dict) else s: s["target"] if isinstance(s, dict) else f"/run/secrets/{s}"
            for s in service.get("secrets", [])}  # fmt: skip


def test_two_identical_replicas_behind_the_balancer(project):
    services = project["services"]
    one, two = (services[name] for name in REPLICAS)
    assert one == two, "the replicas are one definition (the YAML anchor)"
    assert "telering-web-node" in one["command"][-1]
    assert "ports" not in one, "only the balancer publishes the web node's port"
    balancer = services["web-node"]
    image, _, tag = balancer["image"].rpartition(":")
    assert image == "haproxy" and re.fullmatch(r"\d+\.\d+(\.\d+)?-alpine", tag), balancer["image"]
    assert balancer["ports"] == ["${TELERING_PUBLISH_HOST:-127.0.0.1}:8080:8080"]  # loopback unless exposed
    assert {name: spec["condition"] for name, spec in balancer["depends_on"].items()} == dict.fromkeys(
        REPLICAS, "service_healthy"
    )
    assert services["worker"]["environment"]["WEB_NODE_URL"] == "https://web-node:8080", "workers use the balancer"
    assert services["worker"]["depends_on"]["web-node"]["condition"] == "service_healthy"
    assert balancer["configs"] == [{"source": "haproxy_cfg", "target": HAPROXY_CONFIG}]
    assert project["configs"]["haproxy_cfg"]["file"] == "./haproxy.cfg"
    assert "127.0.0.1:8404/healthz" in " ".join(balancer["healthcheck"]["test"])


def test_the_config_balances_the_replicas_over_tls_with_checks_retries_and_tunnels(project):
    services = project["services"]
    balancer = _secret_targets(services["web-node"])
    port = services["web-node-1"]["environment"]["WEB_NODE_PORT"]
    backend = _lines("backend web_nodes")
    servers = [line.split() for line in backend if line.startswith("server ")]
    assert [(s[1], s[2]) for s in servers] == [(name, f"{name}:{port}") for name in REPLICAS]
    for server in servers:  # re-encrypted to each replica, verified against the deployment's CA
        options = " ".join(server[3:])
        assert f"ssl verify required ca-file {balancer['ca_crt']} verifyhost web-node" in options
    [bind] = [line for line in _lines("frontend web_node") if line.startswith("bind ")]
    crt = bind.split(" crt ")[1].split()[0]
    assert bind.startswith("bind :8080 ssl ") and balancer["web_node_cert"] == crt
    assert balancer["web_node_key"] == f"{crt}.key", "haproxy loads <crt>.key as the certificate's key"
    assert "mode http" in _lines("defaults")
    assert any(line.startswith("timeout tunnel ") for line in _lines("defaults")), "WebSocket tunnels"
    assert "option httpchk" in backend
    assert "http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host web-node" in backend
    [default_server] = [line for line in backend if line.startswith("default-server ")]
    assert {"check", "check-ssl"} <= set(default_server.split())
    [retry_on] = [line.split()[1:] for line in backend if line.startswith("retry-on ")]
    assert {"conn-failure", "empty-response"} <= set(retry_on)
    assert any(line.startswith("option redispatch") for line in backend)
    assert "monitor fail if { nbsrv(web_nodes) lt 1 }" in _lines("frontend monitor")


def test_haproxy_accepts_the_config(tmp_path: Path):
    """`haproxy -c` on the file, its container paths pointed at real secrets (scripts/make_secrets.py)."""
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if binary is None:
        pytest.skip("haproxy not installed (make sysdeps installs it)")
    secrets = tmp_path / "secrets"
    made = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_secrets.py"), "--dir", str(secrets)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert made.returncode == 0, made.stderr
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(secrets / "web-node.crt", certs / "web-node.pem")
    shutil.copy(secrets / "web-node.key", certs / "web-node.pem.key")
    text = CONFIG.read_text().replace("/usr/local/etc/haproxy/certs/", f"{certs}/")
    config = tmp_path / "haproxy.cfg"
    text = text.replace("/run/secrets/ca_crt", str(secrets / "ca.crt"))
    # the replicas' names resolve only inside the deployment; here they stand at loopback addresses
    config.write_text(re.sub(r"(?m)^(\s+server (\S+) )\2:", r"\g<1>127.0.0.1:", text))
    checked = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration file is valid" in checked.stdout + checked.stderr
