"""The wheel, and what a user or the image (compose/Dockerfile's `pip install ".[postgres]"`) gets
from it: every compose service's command run from the installed console scripts, never the checkout.

Needs: pip with PyPI reachable (tests/packaging/conftest.py), the session's real Apache Kafka
broker, real web node, worker, simulator and `telering-topics` processes from the fresh
virtualenvs, a real SQLite file; the dashboard under Qt's offscreen platform.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from testkit.processes import ManagedProcess, child_env, free_port, wait_healthy
from tests.desktop_client.web_process import WebNode, at, exit_code_storing_live
from tests.packaging.conftest import ROOT

pytestmark = pytest.mark.packaging

PRODUCT = {"protocol", "stream_app", "web_node", "desktop_client", "simulator", "kafka_local"}
NOT_PRODUCT = ("testkit", "benchmarks", "tests")
IMAGE_EXTRAS = re.search(r'pip install "\.\[([\w,]+)\]"', (ROOT / "compose" / "Dockerfile").read_text()).group(1)


def _env(bin_dir: Path, values: dict[str, str] | None = None) -> dict[str, str]:
    """A child's environment that finds only the virtualenv's telering (not the checkout's)."""
    env = child_env(values or {})
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def _python(bin_dir: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "python"), "-c", code], env=_env(bin_dir), cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_wheel_holds_the_product_packages_only(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == PRODUCT
    assert {
        "web_node/migrations/alembic.ini",
        "web_node/migrations/env.py",
        "web_node/migrations/script.py.mako",
        "kafka_local/pom-kafka3.xml",
        "kafka_local/pom-kafka4.xml",
        "kafka_local/log4j.properties",
        "kafka_local/log4j2.properties",
    } <= names
    assert any(re.fullmatch(r"web_node/migrations/versions/\w+\.py", n) for n in names)


def test_no_product_module_imports_the_test_kit_or_the_benchmarks():
    offenders = []
    for package in sorted(PRODUCT):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    roots = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    roots = [node.module.split(".")[0]]
                else:
                    continue
                offenders += [f"{path.relative_to(ROOT)}: {r}" for r in roots if r in NOT_PRODUCT]
    assert not offenders


def test_the_image_install_has_no_gui_toolkit(installed, tmp_path):
    bin_dir = installed(IMAGE_EXTRAS)
    for module in ("PyQt5", "pyqtgraph", "matplotlib"):
        assert _python(bin_dir, f"import {module}", tmp_path).returncode != 0, f"{module} is in the image"
    found = _python(bin_dir, "import asyncpg, web_node; print(web_node.__file__)", tmp_path)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().startswith(str(bin_dir.parent)), "telering must come from the wheel"


def _compose_commands() -> dict[str, str]:
    """service -> the telering console script its command runs (docker-compose.yml)."""
    services = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())["services"]
    commands = {}
    for name, spec in services.items():
        if str(spec.get("image", "")).startswith("telering"):
            [script] = re.findall(r"\btelering-[a-z-]+", " ".join(spec["command"]))
            commands[name] = script
    return commands


def test_every_compose_service_command_runs_from_the_image_install(installed, pipeline_factory):
    bin_dir = installed(IMAGE_EXTRAS)
    commands = _compose_commands()
    assert set(commands) == {"acl-init", "topic-init", "web-node-1", "web-node-2", "worker", "simulator"}, commands
    assert commands["web-node-1"] == commands["web-node-2"]
    harness = pipeline_factory(partitions=2)
    env = _env(bin_dir, harness.env)

    # acl-init needs a broker with an authorizer (the session's has none): the command is there and runs
    acls = subprocess.run([str(bin_dir / commands["acl-init"]), "--help"], env=env, capture_output=True, text=True)
    assert acls.returncode == 0, acls.stdout + acls.stderr

    topics = subprocess.run(
        [str(bin_dir / commands["topic-init"])], env=env, cwd=harness.workdir, capture_output=True, text=True
    )
    assert topics.returncode == 0, topics.stdout + topics.stderr

    web = ManagedProcess("web0", [str(bin_dir / commands["web-node-1"])], env, harness.workdir / "web0.log").start()
    harness.processes.append(web)
    wait_healthy(harness.web_url, web)
    worker = harness.start_worker(env={"PATH": env["PATH"]}, argv=[str(bin_dir / commands["worker"])])
    harness.wait_worker_ready(worker)

    summary_path = harness.workdir / "summary.json"
    simulator_argv = ["--sensors", "4", "--count", "400", "--rate", "0", "--summary-json", str(summary_path)]
    simulator = subprocess.run(
        [str(bin_dir / commands["simulator"]), *simulator_argv, "--quiet"],
        env=env,
        cwd=harness.workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert simulator.returncode == 0, simulator.stdout + simulator.stderr
    sent = json.loads(summary_path.read_text())["sent_valid"]
    assert sent == 400
    harness.wait_stored(sent)
    assert harness.stored() == sent


def test_a_plain_install_runs_the_web_node_on_sqlite(installed, tmp_path):
    """`pip install telering` (no extras): the web node on its default SQLite store needs no asyncpg."""
    bin_dir = installed("")
    assert _python(bin_dir, "import asyncpg", tmp_path).returncode != 0
    harness_env = {"TELERING_KEYS_FILE": str(tmp_path / "telering.keys"), "WEB_NODE_PORT": str(free_port())}
    env = _env(bin_dir, harness_env)
    keys = subprocess.run(
        [str(bin_dir / "telering-keys"), "new", "--file", "telering.keys"], env=env, cwd=tmp_path, capture_output=True
    )
    assert keys.returncode == 0, keys.stderr
    web = ManagedProcess("web", [str(bin_dir / "telering-web-node")], env, tmp_path / "web.log").start()
    try:
        wait_healthy(f"http://127.0.0.1:{harness_env['WEB_NODE_PORT']}", web)
    finally:
        web.stop()
    assert (tmp_path / "telering.db").exists()


def test_a_plain_install_says_what_the_dashboard_needs(installed, tmp_path):
    bin_dir = installed("")
    done = subprocess.run(
        [str(bin_dir / "telering-dashboard")], env=_env(bin_dir), cwd=tmp_path, capture_output=True, text=True
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert len(output.splitlines()) == 1 and "pip install 'telering[dashboard]'" in output, output
    assert "Traceback" not in output


@pytest.mark.gui
def test_the_dashboard_extra_starts_the_dashboard_offscreen(installed, tmp_path):
    """Plain install + [dashboard]: the dashboard shows a real web node's readings and exits 0."""
    bin_dir = installed("dashboard")
    web_node = WebNode(tmp_path).start()
    sensor, png = "sensor-1", tmp_path / "shot.png"
    web_node.store([at(5, sensor, 0, temperature=12.0)])
    argv = [str(bin_dir / "telering-dashboard"), "--url", web_node.url, "--window", "1m", "--screenshot", str(png)]
    env = _env(bin_dir, {"QT_QPA_PLATFORM": "offscreen"})
    dashboard = ManagedProcess("dashboard", argv, env, tmp_path / "dash.log").start()
    try:
        code, _ = exit_code_storing_live(dashboard, web_node, sensor)
        assert code == 0, dashboard.log_tail()
    finally:
        web_node.stop()
    assert png.stat().st_size > 0
    assert "Traceback" not in dashboard.log_text()
