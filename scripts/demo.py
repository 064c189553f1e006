"""`make demo`: the whole pipeline on one machine — broker, web node, worker, simulator.

Unbounded, it runs until Ctrl-C. With DEMO_SECONDS=N the simulator runs N seconds, the demo
waits for the pipeline to drain and prints `demo: sent=… stored=… sensors=… dlq=…`, exiting
non-zero unless every valid reading sent was stored exactly once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sqlite3
import sys
import time
from pathlib import Path

from kafka_local.broker import broker_from_env
from protocol.keys import add_key, read_key_file
from protocol.settings import Settings
from protocol.topics import Topics
from testkit.processes import ManagedProcess, health, python_argv, wait_healthy
from testkit.waiting import eventually

log = logging.getLogger("demo")
HERE = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=HERE / ".demo", help="state folder (default .demo/)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("DEMO_SECONDS") or 0),
        help="simulate this long, then drain and report (DEMO_SECONDS; 0 = until Ctrl-C)",
    )
    parser.add_argument("--sensors", type=int, default=10, help="simulated sensors (default 10)")
    parser.add_argument("--rate", type=float, default=200.0, help="readings/s over all sensors (default 200)")
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=os.environ.get("DEMO_SCREENSHOT") or None,
        help="with --seconds: near the end of the run, save the dashboard (offscreen) to this PNG (DEMO_SCREENSHOT)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("kafka").setLevel(logging.WARNING)

    args.workdir.mkdir(parents=True, exist_ok=True)
    keys_file = Path(os.environ.get("TELERING_KEYS_FILE") or args.workdir / "telering.keys")
    if not keys_file.exists() or not read_key_file(keys_file):
        add_key(keys_file)
        log.info("made a grant key in %s (mode 0600)", keys_file)
    db_path = args.workdir / "telering.db"
    with contextlib.ExitStack() as stack:
        bootstrap = stack.enter_context(broker_from_env(args.workdir / "kafka"))
        env = _env(bootstrap, keys_file, db_path)
        procs = _Processes(args.workdir)
        stack.callback(procs.stop_all)
        web = procs.start("web_node", "web_node", [], env)
        try:
            wait_healthy(env["WEB_NODE_URL"], web, timeout=60)
        except AssertionError as exc:
            raise SystemExit(f"demo: gave up: {exc}") from None
        worker = procs.start("worker", "stream_app", [], env)
        worker.health_url = f"http://127.0.0.1:{env['WORKER_WEB_PORT']}/healthz"
        _wait(lambda: (h := health(worker)) is not None and h[0] == 200, 90, "the worker to be ready", worker)
        summary_path = args.workdir / "simulator-summary.json"
        summary_path.unlink(missing_ok=True)
        start_seq = int(time.time() * 1000)  # a fresh seq range, so an old database does not count
        sim_args = [
            "--sensors",
            str(args.sensors),
            "--rate",
            str(args.rate),
            "--invalid-fraction",
            "0.01",
            "--duplicate-fraction",
            "0.01",
            "--quiet",
            "--summary-json",
            str(summary_path),
            "--start-seq",
            str(start_seq),
        ]
        sim_args += ["--duration", str(args.seconds)] if args.seconds else ["--duration", "31536000"]
        dlq_topic = Topics.with_prefix(Settings().telering_topic_prefix).dlq
        dlq_before = _dlq_count(bootstrap, dlq_topic)
        started = time.time()  # an old database's transitions are not this run's
        simulator = procs.start("simulator", "simulator", sim_args, env)
        _print_where_to_look(env, args.workdir, db_path)
        if not args.seconds:
            code = _run_until_interrupted(simulator)
            _print_alerts(env, started)
            return code
        if args.screenshot is not None:
            _screenshot(args, env, db_path, procs, start_seq)
        simulator.proc.wait()
        summary = json.loads(summary_path.read_text())
        sent = summary["sent_valid"]
        with contextlib.suppress(AssertionError):  # short of it after two minutes: the line below says so
            eventually(lambda: _stored(db_path, summary, start_seq) >= sent, timeout=120, interval=0.2)
        stored = _stored(db_path, summary, start_seq)
        dlq = _dlq_count(bootstrap, dlq_topic) - dlq_before
        print(f"demo: sent={sent} stored={stored} sensors={len(summary['per_sensor'])} dlq={dlq}", flush=True)
        _print_alerts(env, started)
        return 0 if stored == sent else 1


def _screenshot(
    args: argparse.Namespace, env: dict[str, str], db_path: Path, procs: _Processes, start_seq: int
) -> None:
    """Halfway through the run, the dashboard on this pipeline's web node saves itself as a PNG: it has the
    second half of the stream (30 s in `make screenshot`) to connect, load history and draw live readings.
    Halfway counts this run's readings only (seqs from `start_seq`), not an earlier run's in the same database."""
    enough = max(1, int(args.rate * args.seconds * 0.5))
    _wait(
        lambda: _stored_total(db_path, start_seq) >= enough,
        args.seconds + 120,
        f"{enough} readings stored",
        procs.procs["worker"],
    )
    dashboard = procs.start(
        "dashboard",
        "desktop_client",
        ["--window", "1m", "--screenshot", str(args.screenshot)],
        {**env, "QT_QPA_PLATFORM": env.get("QT_QPA_PLATFORM", "offscreen")},
    )
    if dashboard.proc.wait(180) != 0:
        raise SystemExit(f"demo: the dashboard saved no screenshot; see {args.workdir / 'dashboard.log'}")
    log.info("dashboard screenshot saved to %s", args.screenshot)


def _stored_total(db_path: Path, start_seq: int) -> int:
    if not db_path.exists():
        return 0
    with sqlite3.connect(db_path, timeout=30) as conn:
        try:
            return conn.execute("SELECT count(*) FROM readings WHERE seq >= ?", (start_seq,)).fetchone()[0]
        except sqlite3.OperationalError:  # the web node has not created the table yet
            return 0


def _env(bootstrap: str, keys_file: Path, db_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("WEB_NODE_PORT", "8080")
    env.setdefault("WEB_NODE_URL", f"http://127.0.0.1:{env['WEB_NODE_PORT']}")
    env.setdefault("WORKER_WEB_PORT", "6066")
    env.setdefault("TELERING_ALERT_RULES", str(HERE / "scripts" / "demo-alerts.yaml"))  # one alert fires and resolves
    env.update(
        {
            "KAFKA_BOOTSTRAP": bootstrap,
            "TELERING_KEYS_FILE": str(keys_file),
            "DATABASE_URL": env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{db_path}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class _Processes:
    """The demo's child processes (the harness's ManagedProcess), logs in the work folder."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, ManagedProcess] = {}

    def start(self, name: str, module: str, args: list[str], env: dict[str, str]) -> ManagedProcess:
        log_path = self.workdir / f"{name}.log"
        log_path.unlink(missing_ok=True)  # a fresh log per run
        proc = ManagedProcess(name, python_argv(module, *args), env, log_path, cwd=Path.cwd()).start()
        self.procs[name] = proc
        log.info("started %s (pid %d, log %s)", name, proc.pid, log_path)
        return proc

    def stop_all(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            proc.stop(20)
            log.info("stopped %s", name)


def _wait(predicate, timeout: float, what: str, proc: ManagedProcess) -> None:
    """Wait for `predicate` while `proc` lives; the demo ends with a clear message otherwise."""

    def ready() -> bool:
        assert proc.alive, f"{proc.name} exited; see {proc.log_path}"
        return predicate()

    try:
        eventually(ready, timeout=timeout, interval=0.2, message=f"waiting for {what}")
    except AssertionError as exc:
        raise SystemExit(f"demo: gave up: {exc}") from None


def _stored(db_path: Path, summary: dict, start_seq: int) -> int:
    """Readings of this run's sensors and seq range that are in the database."""
    with sqlite3.connect(db_path, timeout=30) as conn:
        total = 0
        for sensor, info in summary["per_sensor"].items():
            total += conn.execute(
                "SELECT count(*) FROM readings WHERE sensor_id = ? AND seq >= ? AND seq <= ?",
                (sensor, start_seq, info["last_seq"]),
            ).fetchone()[0]
        return total


def _dlq_count(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    from protocol.kafka_security import kafka_python_options
    from protocol.settings import Settings

    # an external KAFKA_BOOTSTRAP may be secured: the same KAFKA_SECURITY_PROTOCOL etc. as the children
    connection = kafka_python_options(Settings().model_copy(update={"kafka_bootstrap": bootstrap}))
    consumer = KafkaConsumer(**connection)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(tps).values()) - sum(consumer.beginning_offsets(tps).values())
    finally:
        consumer.close()


def _print_where_to_look(env: dict[str, str], workdir: Path, db_path: Path) -> None:
    url = env["WEB_NODE_URL"]
    print(
        f"""
telering demo is running.
  web node     {url}/healthz   {url}/api/v1/sensors   {url}/api/v1/readings/latest?limit=5
  worker       http://127.0.0.1:{env["WORKER_WEB_PORT"]}/healthz   http://127.0.0.1:{env["WORKER_WEB_PORT"]}/metrics
  live feed    ws://{url.split("://", 1)[1]}/api/v1/live
  alerts       {url}/api/v1/alerts   {url}/api/v1/alerts/history   (rules: {env["TELERING_ALERT_RULES"]})
  dashboard    WEB_NODE_URL={url} .venv/bin/python -m desktop_client
  database     {db_path}
  logs         {workdir}/{{web_node,worker,simulator}}.log
Ctrl-C stops everything.
""",
        flush=True,
    )


def _print_alerts(env: dict[str, str], since: float) -> None:
    """The alert transitions of the run (from `since`), oldest first (GET /api/v1/alerts/history)."""
    import requests

    try:
        resp = requests.get(
            f"{env['WEB_NODE_URL']}/api/v1/alerts/history", params={"limit": 50, "since": str(int(since))}, timeout=10
        )
        transitions = resp.json()["transitions"] if resp.ok else []
    except (requests.RequestException, ValueError, KeyError) as exc:
        log.warning("could not read the alert history: %s", exc)
        return
    print(f"demo: {len(transitions)} alert transition(s) (rules: {env['TELERING_ALERT_RULES']})", flush=True)
    for t in reversed(transitions):
        print(f"  {t['ts']}  {t['rule']:<12} {t['sensor_id']:<12} {t['from']:>7} -> {t['to']:<7} {t['summary']}")


def _run_until_interrupted(simulator: ManagedProcess) -> int:
    try:
        simulator.proc.wait()
    except KeyboardInterrupt:
        log.info("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
