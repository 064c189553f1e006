"""`python -m benchmarks.alerts`: what alerting costs ingestion, and how soon a transition shows.

- CPU per reading: `Storage.store` driven directly with batches of `--batch` readings at
  `--rate` readings/s for `--seconds`, on a fresh SQLite file, once without alerting and once with
  `--rules` threshold rules (several firing and clearing); this process's CPU (writer thread
  included) per stored reading, and the difference.
- Transition latency: a real web node (in this process, loopback port) with the same rules; a
  reading that crosses a limit is POSTed and `GET /api/v1/alerts` polled until it shows the new
  state: p50/p99 from sending the reading to seeing its transition.

Writes `benchmarks/results/alerts.json` (or `--json`). Figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from protocol.grants import Grant, GrantCodec
from protocol.settings import Settings
from testkit.report import percentile
from web_node.alerts.rules import parse_rules
from web_node.alerts.store import AlertJudge
from web_node.app import create_app
from web_node.write.storage import Storage

RESULTS = Path(__file__).with_name("results") / "alerts.json"
KEY = "benchmark-alerts-key"
QUANTITY_RULES = (
    ("temperature", 20.0, 2.0),
    ("humidity", 50.0, 3.0),
    ("pressure", 1000.0, 5.0),
    ("battery", 50.0, 4.0),
)


def rules_text(n: int) -> str:
    """`n` threshold rules over the four quantities, limits near the simulated values: they fire and clear."""
    lines = ["rules:"]
    for i in range(n):
        quantity, centre, spread = QUANTITY_RULES[i % len(QUANTITY_RULES)]
        side = "above" if i % 2 == 0 else "below"
        limit = centre + spread * (i // 8) * (1 if side == "above" else -1)
        clear = limit - spread / 2 if side == "above" else limit + spread / 2
        lines += [
            f"  - name: bench-{i}",
            f"    severity: {('info', 'warning', 'critical')[i % 3]}",
            f"    quantity: {quantity}",
            f"    {side}: {limit}",
            f"    clear: {clear}",
            f"    for: {i % 3}s",
        ]
    return "\n".join(lines) + "\n"


def readings(second: int, per_second: int, sensors: int, seq0: int, t0: float) -> list[dict]:
    """One second's worth of readings: sine waves around each rule's limit."""
    per_sensor = per_second // sensors
    rows = []
    for n in range(sensors):
        for k in range(per_sensor):
            i = seq0 + second * per_sensor + k
            wave = math.sin(i / 1500 + n)  # a slow swing: each sensor crosses a few limits a minute
            rows.append(
                {
                    "sensor_id": f"bench-{n}",
                    "seq": i,
                    "ts": datetime.fromtimestamp(t0 + i / per_sensor, tz=UTC),
                    "temperature": 20 + 4 * wave,
                    "humidity": 50 + 6 * wave,
                    "pressure": 1000 + 10 * wave,
                    "battery": 50 + 8 * wave,
                }
            )
    return rows


async def cpu_per_reading(path: Path, ruleset, *, seconds: int, rate: int, batch: int, sensors: int) -> dict:
    storage = Storage(f"sqlite+aiosqlite:///{path}", alerts=AlertJudge(lambda: ruleset) if ruleset else None)
    await storage.open()
    try:
        t0 = time.time() - 3600
        cpu = stored = transitions = 0.0
        started = time.monotonic()
        for second in range(seconds):
            rows = readings(second, rate, sensors, 0, t0)
            for start in range(0, len(rows), batch):
                before = time.process_time()
                result = await storage.store(rows[start : start + batch], epoch=1, receiver=0)
                cpu += time.process_time() - before
                stored += len(result.stored)
                transitions += len(result.transitions)
            ahead = (second + 1) - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)  # at `rate` readings/s, as ingestion would come
        return {
            "rules": len(ruleset.rules) if ruleset else 0,
            "readings": int(stored),
            "transitions": int(transitions),
            "cpu_us_per_reading": round(cpu / stored * 1e6, 3),
        }
    finally:
        await storage.close()


async def latency(workdir: Path, rules_path: Path, trials: int) -> dict:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'latency.db'}",
        web_node_host="127.0.0.1",
        web_node_read_auth="off",
        telering_alert_rules=rules_path,
        telering_alerts_kafka=False,
        telering_retention_raw="36500d",
    )
    runner = web.AppRunner(create_app(settings, keys=[KEY]), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    codec, seconds = GrantCodec([KEY]), []
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(trials):
                hot = i % 2 == 0  # alternately above the limit of bench-0 and back below its clear
                reading = {
                    "sensor_id": "latency-1",
                    "seq": i,
                    "ts": datetime.fromtimestamp(time.time() - 1, tz=UTC).isoformat().replace("+00:00", "Z"),
                    "temperature": 90.0 if hot else 10.0,
                    "humidity": 50.0,
                    "pressure": 1000.0,
                    "battery": 50.0,
                }
                grant = codec.sign(Grant(0, i + 1, time.time() + 30))
                sent = time.perf_counter()
                async with http.post(
                    f"{url}/api/v1/batches", json={"readings": [reading]}, headers={"Authorization": f"Bearer {grant}"}
                ) as resp:
                    assert resp.status == 200, await resp.text()
                while True:
                    async with http.get(f"{url}/api/v1/alerts", params={"sensor": "latency-1", "rule": "bench-0"}) as r:
                        shown = bool((await r.json())["alerts"])
                    if shown == hot:
                        break
                seconds.append(time.perf_counter() - sent)
    finally:
        await runner.cleanup()
    return {
        "trials": trials,
        "p50_ms": round(percentile(seconds, 50) * 1000, 2),
        "p99_ms": round(percentile(seconds, 99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


async def run(args: argparse.Namespace) -> dict:
    text = rules_text(args.rules)
    with tempfile.TemporaryDirectory(prefix="telering-alerts-bench-") as tmp:
        workdir = Path(tmp)
        rules_path = workdir / "rules.yaml"
        rules_path.write_text(text)
        common = {"seconds": args.seconds, "rate": args.rate, "batch": args.batch, "sensors": args.sensors}
        without = await cpu_per_reading(workdir / "none.db", None, **common)
        with_rules = await cpu_per_reading(workdir / "rules.db", parse_rules(text), **common)
        seen = await latency(workdir, rules_path, args.trials)
    return {
        "rate_per_s": args.rate,
        "batch": args.batch,
        "sensors": args.sensors,
        "seconds": args.seconds,
        "without_alerting": without,
        "with_rules": with_rules,
        "added_cpu_us_per_reading": round(with_rules["cpu_us_per_reading"] - without["cpu_us_per_reading"], 3),
        "transition_latency": seen,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.alerts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="seconds of ingestion per run (default 20)")
    parser.add_argument("--rate", type=int, default=5000, help="readings per second (default 5000)")
    parser.add_argument("--batch", type=int, default=5000, help="readings per Storage.store call (default 5000)")
    parser.add_argument("--sensors", type=int, default=100, help="sensors the readings spread over (default 100)")
    parser.add_argument("--rules", type=int, default=20, help="threshold rules of the second run (default 20)")
    parser.add_argument("--trials", type=int, default=200, help="latency samples (default 200)")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(run(args))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
