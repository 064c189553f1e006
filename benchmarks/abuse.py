"""What a reader token or an anonymous client can cost the web node (docs/security.md).

A real web node (its own processes, WEB_NODE_READ_AUTH=required, a SQLite file filled with
`--rows` readings spread over `--days` days before it starts) on loopback, then three attacks:

1. `stats`: `GET /api/v1/stats?since=<--days ago>&bucket=86399` and `bucket=61` with a reader
   token (and `bucket=86400`, whole days from the rollups, for comparison), once and `--parallel`
   at once: status, wall time, and the web node's RSS growth (peak over the requests minus
   before, summed over its processes).
2. `live`: one reader token opens `--sockets` live WebSockets as fast as it can (how many 101,
   how many 429), then the web node's CPU time (psutil, all its processes) to store one
   `--batch`-reading batch until every connected socket has received it, against the same batch
   with no socket connected.
3. `healthz`: `--clients` unauthenticated clients on /healthz for `--seconds`: answers by status
   and the lines the web node logged meanwhile.

Figures only: nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import psutil

from benchmarks import history
from protocol.grants import Grant, GrantCodec
from protocol.keys import load_keys
from protocol.partitioning import partition_for
from protocol.settings import Settings
from testkit.bench import work_directory
from testkit.pipeline import PipelineHarness
from testkit.report import machine, table, write_json
from testkit.sampling import ProcessSampler

log = logging.getLogger(__name__)

# two that no rollup answers (not whole minutes), and whole days, which the rollups answer
BUCKETS = (86_399, 61, 86_400)


def web_processes(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def cpu_s(procs: list[psutil.Process]) -> float:
    return sum(t.user + t.system for t in (p.cpu_times() for p in procs))


def by_status(counts: Counter) -> dict[str, int]:
    return {str(s): n for s, n in sorted(counts.items(), key=lambda item: str(item[0]))}


async def timed_get(http: aiohttp.ClientSession, url: str, params: dict) -> dict:
    began = time.perf_counter()
    async with http.get(url, params=params) as answer:
        body = await answer.read()
    out = {"status": answer.status, "seconds": time.perf_counter() - began}
    if answer.status >= 400:
        out["error"] = json.loads(body).get("error")
    return out


async def stats_attack(url: str, headers: dict, since: float, bucket: int, parallel: int, procs: list) -> dict:
    sampler = ProcessSampler(interval=0.05)
    for p in procs:
        sampler.watch(str(p.pid), p.pid)
    sampler.start()
    out = {}
    try:
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=300)) as http:
            for n in (1, parallel):
                before = {name: sampler.series[name][-1].rss for name in sampler.names()}
                began = time.time()
                params = {"since": str(since), "bucket": str(bucket)}
                answers = await asyncio.gather(*(timed_get(http, f"{url}/api/v1/stats", params) for _ in range(n)))
                ended = time.time()
                growth = sum(
                    max((s.rss for s in sampler.rss_between(name, began, ended + 0.1)), default=rss) - rss
                    for name, rss in before.items()
                )
                out[f"at_once_{n}"] = {"answers": answers, "rss_growth_mb": growth / 2**20}
    finally:
        sampler.stop()
    return out


def batch(prefix: str, size: int, partitions: int) -> dict:
    """`size` fresh readings of one sensor of receiver 0, as a worker posts them."""
    sensor = next(f"{prefix}{i}" for i in range(1000) if partition_for(f"{prefix}{i}", partitions) == 0)
    rows = history.history_rows([sensor], hours=size / 3600, period=1, now=time.time())[:size]
    return {"readings": [r | {"ts": r["ts"].isoformat().replace("+00:00", "Z")} for r in rows]}


async def batch_cpu(url: str, grant: str, body: dict, procs: list, sockets: list) -> float:
    """CPU seconds of the web node from the POST until every socket has received the batch."""
    received = [0] * len(sockets)

    async def drain(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        while received[i] < len(body["readings"]):
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                return
            received[i] += 1

    readers = [asyncio.create_task(drain(i, ws)) for i, ws in enumerate(sockets)]
    before = cpu_s(procs)
    auth = {"Authorization": f"Bearer {grant}"}
    async with aiohttp.ClientSession() as http, http.post(f"{url}/api/v1/batches", json=body, headers=auth) as a:
        assert a.status == 200, await a.text()
    await asyncio.wait_for(asyncio.gather(*readers), timeout=300)
    return cpu_s(procs) - before


async def live_attack(url: str, headers: dict, sockets: int, size: int, partitions: int, grant, procs: list) -> dict:
    alone = await batch_cpu(url, grant(), batch("alone-", size, partitions), procs, [])
    statuses: Counter[int] = Counter()
    opened = []
    async with aiohttp.ClientSession(headers=headers) as http:

        async def connect() -> None:
            try:
                opened.append(await http.ws_connect(f"{url}/api/v1/live"))
                statuses[101] += 1
            except aiohttp.WSServerHandshakeError as exc:
                statuses[exc.status] += 1

        began = time.perf_counter()
        await asyncio.gather(*(connect() for _ in range(sockets)))
        open_s = time.perf_counter() - began
        loaded = await batch_cpu(url, grant(), batch("listened-", size, partitions), procs, opened)
        for ws in opened:
            await ws.close()
    return {
        "asked": sockets,
        "statuses": by_status(statuses),
        "connect_seconds": open_s,
        "batch": size,
        "batch_cpu_s_no_sockets": alone,
        "batch_cpu_s_with_sockets": loaded,
    }


async def healthz_attack(url: str, clients: int, seconds: float) -> Counter[int | str]:
    statuses: Counter[int | str] = Counter()
    deadline = time.monotonic() + seconds

    async def client(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/healthz") as answer:
                    await answer.read()
                statuses[answer.status] += 1
            except (TimeoutError, aiohttp.ClientError) as exc:  # counted, as an answer of no status
                statuses[type(exc).__name__] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return statuses


def run(args: argparse.Namespace, workdir: Path) -> dict:
    # the web node talks to no broker: the harness's bootstrap is only an unused setting
    harness = PipelineHarness("127.0.0.1:9", workdir, read_auth=True, batch_max=args.batch)
    now = time.time()
    sensors = [f"hist-{i:03d}" for i in range(args.sensors)]
    period = args.days * 86_400 * args.sensors / args.rows
    rows = history.history_rows(sensors, args.days * 24 + period / 7200, period, now)  # half a step: rounded
    log.info("storing %d readings over %g days", len(rows), args.days)
    stored = asyncio.run(history.store_history(harness.database_url, rows))
    web = harness.start_web_node({"TELERING_RETENTION_RAW": str(2 * args.days * 86_400)})  # keep them all
    try:
        procs = web_processes(web.pid)
        keys = load_keys(Settings(telering_keys_file=harness.keys_file, telering_grant_keys=None))

        def grant() -> str:
            return GrantCodec(keys).sign(Grant(0, 1, time.time() + harness.grant_ttl_s, harness.app_id))

        url, headers = harness.web_url, harness.read_headers
        figures = {"rows": stored, "days": args.days, "web_processes": len(procs), "stats": {}}
        for bucket in BUCKETS:
            log.info("stats at bucket=%d, once and %d at once", bucket, args.parallel)
            attack = stats_attack(url, headers, now - args.days * 86_400, bucket, args.parallel, procs)
            figures["stats"][f"bucket_{bucket}"] = asyncio.run(attack)
        log.info("%d live sockets from one reader, then a %d-reading batch", args.sockets, args.batch)
        figures["live"] = asyncio.run(
            live_attack(url, headers, args.sockets, args.batch, harness.partitions, grant, procs)
        )
        log.info("%d anonymous clients on /healthz for %g s", args.clients, args.seconds)
        lines_before = len(web.log_text().splitlines())
        size_before = web.log_path.stat().st_size
        answers = asyncio.run(healthz_attack(url, args.clients, args.seconds))
        figures["healthz"] = {
            "clients": args.clients,
            "seconds": args.seconds,
            "statuses": by_status(answers),
            "log_lines": len(web.log_text().splitlines()) - lines_before,
            "log_bytes": web.log_path.stat().st_size - size_before,
        }
        return figures
    finally:
        harness.stop()


def summarize(results: dict) -> None:
    print(
        f"\nweb node ({results['web_processes']} processes), {results['rows']:,} readings over {results['days']} days"
    )
    rows = [
        [
            name,
            n.removeprefix("at_once_"),
            ", ".join(str(a["status"]) for a in r["answers"]),
            max(a["seconds"] for a in r["answers"]),
            r["rss_growth_mb"],
        ]
        for name, runs in results["stats"].items()
        for n, r in runs.items()
    ]
    print(table(rows, ["stats", "at once", "statuses", "max s", "RSS +MB"]))
    live, hz = results["live"], results["healthz"]
    print(
        f"live: {live['asked']} asked in {live['connect_seconds']:.2f} s -> {live['statuses']}; "
        f"{live['batch']}-reading batch CPU {live['batch_cpu_s_with_sockets']:.3f} s with them, "
        f"{live['batch_cpu_s_no_sockets']:.3f} s without"
    )
    print(f"healthz: {hz['clients']} clients for {hz['seconds']} s -> {hz['statuses']}; {hz['log_lines']} log lines")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.abuse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--workdir", type=Path, help="keep the web node's log and database here")
    parser.add_argument("--rows", type=int, default=300_000, help="readings stored first (default 300000)")
    parser.add_argument("--days", type=float, default=7, help="days they span, up to now (default 7)")
    parser.add_argument("--sensors", type=int, default=5, help="sensors they come from (default 5)")
    parser.add_argument("--parallel", type=int, default=4, help="stats requests at once (default 4)")
    parser.add_argument("--sockets", type=int, default=500, help="live sockets one reader asks for (default 500)")
    parser.add_argument("--batch", type=int, default=5000, help="readings in the measured batch (default 5000)")
    parser.add_argument("--clients", type=int, default=20, help="anonymous /healthz clients (default 20)")
    parser.add_argument("--seconds", type=float, default=5, help="how long they ask (default 5)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with work_directory(args) as workdir:
        measured = run(args, workdir)
    results = {"benchmark": "abuse", "machine": machine(), "argv": sys.argv[1:] if argv is None else argv, **measured}
    summarize(results)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
