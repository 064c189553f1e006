"""The web node's read API under load while it keeps ingesting.

A web node (SQLite file), one worker and its receivers run on fresh topics. First `--preload`
readings are stored (so the reads have rows to scan); then a simulator offers `--ingest-rate`
readings/s and, once they are being stored, `--concurrency` aiohttp clients in this process
send requests back to back for `--seconds` over loopback, as many on each route (client c asks
route c mod 4 only, so a slow route does not hold up the others' figures):

- `latest`: `GET /api/v1/readings/latest?limit=100` (the dashboard's "newest readings"),
- `stats`: `GET /api/v1/stats?since=<until - --stats-since>&until=<end of the history>&bucket=<--stats-bucket>`
  over the history's sensors (the dashboard's 24 h window: 180 s buckets),
- `stats_1h`: the same at 1 h buckets, and
- `revalidate`: `stats` over the same span ending at the last whole hour, sent with the
  `If-None-Match` of its first answer (a dashboard refreshing an unchanged window: 304, no body).

Ingestion meanwhile: each batch's store time (the web node's `telering_store_seconds` histogram,
read before and after the load; its p99 is the upper bound of the bucket holding it).

Live push meanwhile: `--live-clients` WebSockets on `/api/v1/live`, each following two of the
ingested sensors; the kernel spreads them over the web node's processes (`/healthz` says which
holds how many). Each frame's delay is its arrival here minus its row's `stored_at`; a reading
stored between the first and the last a client got of a sensor and not pushed to it is missed.

The whole run is repeated for each `--processes` value (WEB_NODE_PROCESSES; default `1,auto`):
the first is the baseline, and each route's requests/s is also given as a ratio to it.

Per route: requests, requests/s, p50/p99/max latency (ms, request sent -> body read), non-2xx
and 5xx answers, client errors (connection failures, timeouts). Alongside: the readings stored
per second during the load (ingestion must keep going while reads are served), the web node's
CPU share, and sent vs stored over the whole run (lost / duplicated, must be 0 / 0).

The clients share the machine with the web node, the worker, the simulator and Kafka, so the
figures are a floor, noisy on a shared machine; closed-loop clients measure capacity at that
concurrency, not latency at a fixed request rate.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import psutil
import requests

from benchmarks import history
from simulator.messages import sensor_ids
from testkit.bench import (
    add_common_options,
    add_database_option,
    databases,
    integrity,
    workdir_and_broker,
)
from testkit.load import Load, start_load
from testkit.pipeline import PipelineHarness
from testkit.processes import children_of
from testkit.report import machine, percentile, table, write_json
from testkit.sampling import ProcessSampler
from testkit.waiting import eventually

log = logging.getLogger(__name__)


@dataclass
class RouteLoad:
    """What the clients saw of one route."""

    path: str
    params: dict[str, str] | list[tuple[str, str]]
    headers: dict[str, str] = field(default_factory=dict)
    ok: tuple[int, ...] = (200,)  # the statuses that answer the request as asked
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def figures(self, seconds: float) -> dict:
        requests = sum(self.statuses.values())
        return {
            "path": self.path,
            "params": self.params,
            "requests": requests,
            "requests_per_s": requests / seconds if seconds > 0 else None,
            "p50_ms": percentile(self.latencies_ms, 50),
            "p99_ms": percentile(self.latencies_ms, 99),
            "max_ms": max(self.latencies_ms, default=None),
            "non_2xx": sum(n for s, n in self.statuses.items() if not 200 <= s < 300 and s not in self.ok),
            "status_5xx": sum(n for s, n in self.statuses.items() if s >= 500),
            "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
            "client_errors": sum(self.errors.values()),
            "client_error_kinds": dict(self.errors),
        }


@dataclass
class LiveClient:
    """One `/api/v1/live` socket following `sensors`: what arrived, and when."""

    sensors: list[str]
    frames: list[tuple[str, int, float]] = field(default_factory=list)  # (sensor_id, seq, arrival, unix s)
    closed: str | None = None  # why it ended before the load did

    async def follow(self, base_url: str, connected: asyncio.Event, deadline: float) -> None:
        params = [("sensor", sensor) for sensor in self.sensors]
        async with aiohttp.ClientSession() as http, http.ws_connect(base_url + "/api/v1/live", params=params) as ws:
            connected.set()
            while (left := deadline - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(ws.receive(), timeout=left)
                except TimeoutError:
                    return
                if message.type is not aiohttp.WSMsgType.TEXT:
                    self.closed = f"{message.type.name} {message.data}"
                    return
                reading = orjson.loads(message.data)
                self.frames.append((reading["sensor_id"], reading["seq"], time.time()))

    def figures(self, stored: dict[str, dict[int, float]]) -> dict:
        """Delays against the rows' `stored_at`; readings missed, repeated or out of `seq` order."""
        delays, missed, repeated, out_of_order = [], 0, 0, 0
        for sensor in self.sensors:
            seqs = [seq for sensor_id, seq, _ in self.frames if sensor_id == sensor]
            repeated += len(seqs) - len(set(seqs))
            out_of_order += sum(b < a for a, b in itertools.pairwise(seqs))
            if seqs:
                got, first, last = set(seqs), min(seqs), max(seqs)
                missed += sum(1 for seq in stored.get(sensor, {}) if first <= seq <= last and seq not in got)
        for sensor, seq, arrived in self.frames:
            at = stored.get(sensor, {}).get(seq)
            if at is not None:
                delays.append(1000 * (arrived - at))
        return {
            "frames": len(self.frames),
            "delays_ms": delays,
            "missed": missed,
            "repeated": repeated,
            "out_of_order": out_of_order,
            "closed": self.closed,
        }


def live_clients(args: argparse.Namespace) -> list[LiveClient]:
    """`--live-clients` clients, two of the ingested sensors each (the simulator's names)."""
    ingested = sensor_ids("p0-sensor-", args.sensors)
    return [LiveClient(ingested[2 * i : 2 * i + 2]) for i in range(min(args.live_clients, len(ingested) // 2))]


def live_figures(harness: PipelineHarness, clients: list[LiveClient]) -> dict:
    """Every client's frames against the stored rows, summed up."""
    sensors = sorted({sensor for client in clients for sensor in client.sensors})
    stored: dict[str, dict[int, float]] = {}
    if sensors:
        marks = ",".join("?" * len(sensors))
        for sensor, seq, at in harness.query(
            f"SELECT sensor_id, seq, stored_at FROM readings WHERE sensor_id IN ({marks})", tuple(sensors)
        ):
            stored.setdefault(sensor, {})[seq] = at
    each = [client.figures(stored) for client in clients]
    delays = [d for figures in each for d in figures["delays_ms"]]
    return {
        "clients": len(clients),
        "frames": sum(f["frames"] for f in each),
        "delay_p50_ms": percentile(delays, 50),
        "delay_p99_ms": percentile(delays, 99),
        "delay_max_ms": max(delays, default=None),
        "missed": sum(f["missed"] for f in each),
        "repeated": sum(f["repeated"] for f in each),
        "out_of_order": sum(f["out_of_order"] for f in each),
        "closed_early": [f["closed"] for f in each if f["closed"]],
    }


def live_by_process(base_url: str) -> dict[str, int]:
    """Live sockets open on each of the web node's processes, by its role and index."""
    processes = requests.get(f"{base_url}/healthz", timeout=10).json().get("processes", [])
    return {f"{p['role']}-{p['index']}": p["live_clients"] for p in processes}


def stats_query(args: argparse.Namespace, until: float) -> dict:
    """The stats route's query: `--stats-since` s up to `until` over the history's sensors."""
    sensors = history_sensors(args)
    return {"since": until - args.stats_since, "until": until, "bucket": args.stats_bucket, "sensor_ids": sensors}


def history_sensors(args: argparse.Namespace) -> list[str]:
    return [f"hist-{i:03d}" for i in range(args.history_sensors)]


def routes(query: dict) -> dict[str, RouteLoad]:
    sensors = [("sensor", s) for s in query["sensor_ids"]]

    def stats(until: float, bucket: int) -> list[tuple[str, str]]:
        return [
            ("since", str(until - (query["until"] - query["since"]))),
            ("until", str(until)),
            ("bucket", str(bucket)),
        ]

    closed = math.floor(query["until"] / 3600) * 3600
    return {
        "latest": RouteLoad("/api/v1/readings/latest", {"limit": "100"}),
        "stats": RouteLoad("/api/v1/stats", stats(query["until"], query["bucket"]) + sensors),
        "stats_1h": RouteLoad("/api/v1/stats", stats(query["until"], 3600) + sensors),
        "revalidate": RouteLoad("/api/v1/stats", stats(closed, query["bucket"]) + sensors, ok=(304,)),
    }


async def fetch_etags(base_url: str, loads: dict[str, RouteLoad]) -> None:
    """The revalidating routes' If-None-Match: the ETag of their first answer."""
    async with aiohttp.ClientSession() as http:
        for route in loads.values():
            if 304 in route.ok:
                async with http.get(base_url + route.path, params=route.params) as response:
                    await response.read()
                    route.headers = {"If-None-Match": response.headers["ETag"]}


def store_seconds(base_url: str) -> dict[float, float]:
    """The web node's `telering_store_seconds` histogram: cumulative count per upper bound."""
    text = requests.get(f"{base_url}/metrics", timeout=10).text
    buckets = {}
    for line in text.splitlines():
        if line.startswith("telering_store_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[math.inf if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def batch_p99_s(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The p99 of the batches stored between two scrapes: the upper bound of its bucket."""
    counts = {bound: after[bound] - before.get(bound, 0.0) for bound in sorted(after)}
    total = counts.get(math.inf, 0.0)
    if total <= 0:
        return None
    return next(bound for bound, n in counts.items() if n >= 0.99 * total)


async def _client(
    http: aiohttp.ClientSession, base_url: str, loads: list[RouteLoad], first: int, deadline: float
) -> None:
    """Requests back to back on route `first` (mod the routes) until `deadline`."""
    route = loads[first % len(loads)]
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            async with http.get(base_url + route.path, params=route.params, headers=route.headers) as response:
                await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            route.errors[type(exc).__name__] += 1
            continue
        route.latencies_ms.append(1000 * (time.perf_counter() - started))
        route.statuses[response.status] += 1


@dataclass
class LoadWindow:
    """When the clients ran, and the CPU the whole machine and this process used meanwhile."""

    started: float  # unix seconds
    elapsed: float
    machine_cpu_s: float  # every core's busy time
    clients_cpu_s: float  # this process: the clients and the live sockets
    live_spread: dict[str, int]  # live sockets on each of the web node's processes


def _cpu_now() -> tuple[float, float]:
    machine, own = psutil.cpu_times(), psutil.Process().cpu_times()
    return machine.user + machine.nice + machine.system + machine.irq + machine.softirq, own.user + own.system


async def generate(
    base_url: str, loads: dict[str, RouteLoad], concurrency: int, seconds: float, live: list[LiveClient]
) -> LoadWindow:
    """The `live` sockets, then `concurrency` closed-loop clients over one keep-alive connection
    pool for `seconds`."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    connected = [asyncio.Event() for _ in live]
    following = [
        asyncio.create_task(client.follow(base_url, ready, time.monotonic() + seconds + 60))
        for client, ready in zip(live, connected, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in connected)), timeout=30)
    # each process reports its sockets in its status file now and then: wait until all are counted
    spread = await asyncio.to_thread(
        eventually,
        lambda: (found := live_by_process(base_url)) and sum(found.values()) == len(live) and found,
        timeout=15,
        message="the web node's processes never reported every live socket",
    )
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        started, wall, (machine, own) = time.monotonic(), time.time(), _cpu_now()
        deadline = started + seconds
        targets = list(loads.values())
        await asyncio.gather(*(_client(http, base_url, targets, c, deadline) for c in range(concurrency)))
        elapsed, (machine_after, own_after) = time.monotonic() - started, _cpu_now()
    for task in following:  # the sockets end with the load
        task.cancel()
    await asyncio.gather(*following, return_exceptions=True)
    return LoadWindow(wall, elapsed, machine_after - machine, own_after - own, spread)


def preload(harness: PipelineHarness, args: argparse.Namespace) -> int:
    """Store `--preload` readings of their own sensors before the load; how many were sent."""
    if args.preload <= 0:
        return 0
    summary = harness.simulate(
        "--sensors", str(args.sensors), "--count", str(args.preload), "--rate", "0", "--sensor-prefix", "pre-sensor-"
    )
    harness.wait_stored(summary["sent_valid"], timeout=120)
    return summary["sent_valid"]


def stop_load(load: Load) -> dict:
    """Ctrl-C the simulators (they flush and summarise on SIGINT), then their merged summary."""
    for proc, _ in load.procs:
        if proc.alive:
            proc.proc.send_signal(signal.SIGINT)
    return load.wait(timeout=120)


def run(
    args: argparse.Namespace,
    workdir: Path,
    bootstrap: str,
    database_url: str | None,
    processes: str,
    *,
    compare_stats: bool,
) -> tuple[dict, dict[str, list[float]]]:
    """The measured figures with WEB_NODE_PROCESSES=`processes`, and every request's latency by
    route (for the plot); `compare_stats`: also time the stats query against a raw GROUP BY."""
    harness = PipelineHarness(
        bootstrap,
        workdir / f"webnode-{processes}",
        partitions=args.partitions,
        database_url=database_url,
        web_env={"WEB_NODE_PROCESSES": processes},
    )
    sampler = ProcessSampler(interval=0.5).start()
    try:
        until = float(math.floor(time.time()))
        rows = history.history_rows(history_sensors(args), args.history_hours, args.history_period, until)
        log.info("storing %d readings of history (%d sensors)", len(rows), args.history_sensors)
        history_stored = asyncio.run(history.store_history(harness.database_url, rows))
        asked = stats_query(args, until)
        web, _ = harness.start(settle=True, sampler=sampler, timeout=120)
        for pid in children_of(web.pid):  # several processes: the parent only supervises them
            sampler.watch(f"web-{pid}", pid)
        preloaded = preload(harness, args)
        load = start_load(harness, producers=1, sensors=args.sensors, rate=args.ingest_rate)
        eventually(
            lambda: harness.stored() > history_stored + preloaded,
            timeout=60,
            interval=0.1,
            message="ingestion never started",
        )
        loads = routes(asked)
        asyncio.run(fetch_etags(harness.web_url, loads))
        log.info("%d clients for %g s while ingesting %g readings/s", args.concurrency, args.seconds, args.ingest_rate)
        stores_before = store_seconds(harness.web_url)
        live = live_clients(args)
        window = asyncio.run(generate(harness.web_url, loads, args.concurrency, args.seconds, live))
        started, elapsed, live_spread = window.started, window.elapsed, window.live_spread
        ended = started + elapsed
        batch_p99 = batch_p99_s(stores_before, store_seconds(harness.web_url))
        baseline = None
        if compare_stats:
            log.info("stats by rollups and by a raw GROUP BY, %d times each, ingesting", args.baseline_repeats)
            baseline = asyncio.run(
                history.compare_stats(harness.database_url, {**asked, "limit": 10_001}, args.baseline_repeats)
            )
        sent = stop_load(load)
        total = history_stored + preloaded + sent["sent_valid"]
        harness.wait_stored(total, timeout=120)
        during = harness.query(
            "SELECT count(*) FROM readings WHERE stored_at >= ? AND stored_at < ?", (started, ended)
        )[0][0]
        web_names = [name for name in sampler.names() if name == "web" or name.startswith("web-")]
        web_cpu = sum(sampler.cpu_between(name, started, ended) for name in web_names)
        figures = {
            "processes": processes,
            "web_node_processes": len(live_spread) or 1,
            "database": args.database,
            "stats_query": {k: asked[k] for k in ("since", "until", "bucket")} | {"sensors": len(asked["sensor_ids"])},
            "stats_baseline": baseline,
            "seconds": elapsed,
            "concurrency": args.concurrency,
            "routes": {name: route.figures(elapsed) for name, route in loads.items()},
            "ingest": {
                "offered_per_s": sent["rate"],
                "stored_per_s_during_load": during / elapsed,
                "preloaded": preloaded,
                "history": history_stored,
                "batch_store_p99_ms": None if batch_p99 is None else 1000 * batch_p99,
                **integrity(harness, total),
            },
            "live": {**live_figures(harness, live), "clients_by_process": live_spread},
            "web_cpu_fraction_during_load": web_cpu / elapsed,
            # in cores: the whole machine's, the web node's, and this process's clients' (the rest is
            # Kafka, the worker and the simulator)
            "cpu_during_load": {
                "cores": psutil.cpu_count(),
                "machine": window.machine_cpu_s / elapsed,
                "web_node": web_cpu / elapsed,
                "clients": window.clients_cpu_s / elapsed,
            },
            "web_cpu_us_per_stored_reading": 1e6 * web_cpu / during if during else None,
            "web_peak_rss_mb": sum(sampler.peak_rss(name) for name in web_names) / 2**20,
        }
        return figures, {name: route.latencies_ms for name, route in loads.items()}
    finally:
        sampler.stop()
        harness.stop()


def summarize(results: dict) -> None:
    runs = results["runs"]
    print(
        f"\nweb node read API ({results['database']}): {runs[0]['concurrency']} clients for {runs[0]['seconds']:.1f} s"
    )
    rows = [
        [
            run["processes"],
            name,
            r["requests"],
            r["requests_per_s"],
            results["versus_baseline"][i][name],
            r["p50_ms"],
            r["p99_ms"],
            r["non_2xx"] + r["client_errors"],
        ]
        for i, run in enumerate(runs)
        for name, r in run["routes"].items()
    ]
    print(table(rows, ["processes", "route", "requests", "req/s", "x baseline", "p50 ms", "p99 ms", "failed"]))
    for run in runs:
        ingest, live, cpu = run["ingest"], run["live"], run["cpu_during_load"]
        p99 = ingest["batch_store_p99_ms"]
        print(
            f"processes={run['processes']}: ingesting {ingest['stored_per_s_during_load']:,.0f} readings/s "
            f"(offered {ingest['offered_per_s']:,.0f}/s); sent {ingest['sent']:,}  stored {ingest['stored']:,}  "
            f"lost {ingest['lost']}  duplicated {ingest['duplicated']}  batch store p99 <= "
            f"{'-' if p99 is None else f'{p99:,.0f}'} ms; cores busy {cpu['machine']:.2f} of {cpu['cores']}: "
            f"web node {cpu['web_node']:.2f}, clients {cpu['clients']:.2f}; "
            f"live: {live['frames']:,} frames on {live['clients']} sockets {live['clients_by_process']}, "
            f"delay after the store p50 {_ms(live['delay_p50_ms'])} p99 {_ms(live['delay_p99_ms'])} ms, "
            f"missed {live['missed']} repeated {live['repeated']} out of order {live['out_of_order']}"
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def versus_baseline(runs: list[dict]) -> list[dict[str, float | None]]:
    """Each run's requests/s per route over the first run's."""
    first = runs[0]["routes"]
    return [
        {
            name: r["requests_per_s"] / first[name]["requests_per_s"] if first[name]["requests_per_s"] else None
            for name, r in run["routes"].items()
        }
        for run in runs
    ]


def plot(runs: list[dict], latencies: list[dict[str, list[float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for run, by_route, style in zip(runs, latencies, itertools.cycle(["--", "-", ":"]), strict=False):
        for name, values in by_route.items():
            ordered = sorted(values)
            if ordered:
                ax.plot(
                    ordered,
                    [(i + 1) / len(ordered) for i in range(len(ordered))],
                    style,
                    label=f"{name} x{run['web_node_processes']}: {run['routes'][name]['requests_per_s']:,.0f} req/s",
                )
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.webnode", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_options(parser)
    add_database_option(parser)
    parser.add_argument("--seconds", type=float, default=30, help="length of the read load (default 30)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="concurrent clients, each one request at a time (default 16)"
    )
    parser.add_argument(
        "--ingest-rate", type=float, default=5000, help="readings/s the simulator offers during the load (default 5000)"
    )
    parser.add_argument("--preload", type=int, default=20_000, help="readings stored before the load (default 20000)")
    parser.add_argument(
        "--sensors", type=int, default=50, help="sensors of the preload and of the ingestion (default 50)"
    )
    parser.add_argument("--partitions", type=int, default=4, help="partitions of `readings` = receivers (default 4)")
    parser.add_argument(
        "--processes",
        default="1,auto",
        help="WEB_NODE_PROCESSES of each run, comma-separated; the first is the baseline (default 1,auto)",
    )
    parser.add_argument(
        "--live-clients",
        type=int,
        default=4,
        help="live sockets during the load, two ingested sensors each (default 4)",
    )
    parser.add_argument(
        "--stats-since",
        type=float,
        default=86_400,
        help="the stats route's span: `since` this many seconds before `until`, the end of the history (default 86400)",
    )
    parser.add_argument(
        "--stats-bucket",
        type=int,
        default=180,
        help="the stats route's `bucket` seconds (default 180, what the dashboard asks for 24 h)",
    )
    parser.add_argument("--history-sensors", type=int, default=20, help="sensors of the stored history (default 20)")
    parser.add_argument(
        "--history-hours", type=float, default=24, help="hours of history stored before the load (default 24)"
    )
    parser.add_argument(
        "--history-period", type=float, default=10, help="seconds between a history sensor's readings (default 10)"
    )
    parser.add_argument(
        "--baseline-repeats",
        type=int,
        default=20,
        help="times the stats query is answered by rollups and by a raw GROUP BY, in turn (default 20)",
    )
    parser.add_argument(
        "--rollup-cost-readings",
        type=int,
        default=60_000,
        help="readings stored with and without rollups to measure their CPU cost (0: skip; default 60000)",
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.seconds <= 0:
        parser.error("--concurrency must be >= 1 and --seconds > 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO is connection chatter
    processes = [value.strip() for value in args.processes.split(",") if value.strip()]
    with workdir_and_broker(args) as (workdir, bootstrap), databases(args) as new_database:
        runs, latencies = [], []
        for i, value in enumerate(processes):
            log.info("WEB_NODE_PROCESSES=%s", value)
            measured, by_route = run(
                args, workdir, bootstrap, new_database(), value, compare_stats=i == len(processes) - 1
            )
            runs.append(measured)
            latencies.append(by_route)
        results = {
            "benchmark": "webnode",
            "machine": machine(),
            "argv": sys.argv[1:] if argv is None else argv,
            "database": args.database,
            "runs": runs,
            "versus_baseline": versus_baseline(runs),
            "stats_baseline": runs[-1]["stats_baseline"],
        }
        if args.rollup_cost_readings > 0:
            log.info("the CPU cost of rollups: %d readings stored with, then without", args.rollup_cost_readings)
            scratch = iter(range(2))
            results["rollup_cost"] = cost = history.rollup_cost(
                lambda: new_database() or f"sqlite+aiosqlite:///{workdir / f'rollup-cost-{next(scratch)}.db'}",
                args.rollup_cost_readings,
            )
            if runs[0]["web_cpu_us_per_stored_reading"]:
                cost["share_of_web_cpu_per_reading"] = (
                    cost["added_cpu_us_per_reading"] / runs[0]["web_cpu_us_per_stored_reading"]
                )
    summarize(results)
    write_json(args.json, results)
    if args.plot:
        plot(
            runs,
            latencies,
            args.plot,
            f"web node reads: {runs[0]['concurrency']} clients while ingesting "
            f"{runs[0]['ingest']['stored_per_s_during_load']:,.0f} readings/s",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
