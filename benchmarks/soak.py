"""Soak: a web node ingesting steadily for `--minutes` under a short raw retention, and the size of
its SQLite file over time, which must level off once readings start to expire.

A real web node process (`python -m web_node`, SQLite file in the work directory) gets
TELERING_RETENTION_RAW=`--retention-raw`; a steady writer in this process posts `--rate`
readings/s of `--sensors` sensors (ts = now) as the token ring would (one batch per receiver's
share, each under a signed grant of the next epoch). Every `--sample-every` seconds it records
the file's size (database + WAL), its page and free-page counts, the raw rows kept and the rows
retention expired (the web node's /metrics). At the end it checks the counts: every reading
sent was stored once (telering_readings_stored_total), and kept + expired = stored.

Written: `--json` (default benchmarks/results/soak.json) and `--plot` (default docs/soak.png).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from protocol.durations import DurationError, format_duration, parse_duration
from protocol.keys import add_key, read_key_file
from testkit.bench import work_directory
from testkit.processes import ManagedProcess, child_env, free_port, python_argv, wait_healthy
from testkit.report import machine, percentile, slope_per_min, write_json
from testkit.steady import SteadyWriter

log = logging.getLogger(__name__)
PARTITIONS = 4
RESULTS = Path("benchmarks/results/soak.json")
PLOT = Path("docs/soak.png")


def database_figures(db_path: Path) -> dict:
    """Size on disk (database + WAL), pages, free pages, raw rows kept."""
    wal = db_path.with_name(db_path.name + "-wal")
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        page_size, pages, free = (
            db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count", "freelist_count")
        )
        rows = db.execute("SELECT count(*) FROM readings").fetchone()[0]
    return {
        "db_bytes": db_path.stat().st_size,
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "page_size": page_size,
        "page_count": pages,
        "freelist_count": free,
        "raw_rows": rows,
    }


async def scrape(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return {
        s.name + "".join(f"{{{v}}}" for v in s.labels.values()): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def soak(args: argparse.Namespace, url: str, keys: list[str], db_path: Path) -> dict:
    samples: list[dict] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        writer = SteadyWriter(http, url, keys, args.sensors, args.rate, partitions=PARTITIONS)
        started = time.monotonic()

        async def sample() -> None:
            metrics = await scrape(http, url)
            samples.append(
                {
                    "t_s": time.monotonic() - started,
                    "sent": writer.sent,
                    "expired": metrics.get("telering_retention_expired_total{readings}", 0.0),
                    **database_figures(db_path),
                }
            )

        async def sampler() -> None:
            while True:
                await sample()
                await asyncio.sleep(args.sample_every)  # the sampling schedule

        sampling = asyncio.create_task(sampler())
        try:
            await writer.run(args.minutes * 60)
        finally:
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
        await sample()
        kept, expired = await settled_counts(http, url, db_path, writer.sent)
        metrics = await scrape(http, url)
    return {
        "samples": samples,
        "sent": writer.sent,
        "stored": int(metrics["telering_readings_stored_total"]),
        "duplicates": writer.duplicates,
        "batches": len(writer.latencies_ms),
        "batch_p50_ms": percentile(writer.latencies_ms, 50),
        "batch_p99_ms": percentile(writer.latencies_ms, 99),
        "batch_max_ms": max(writer.latencies_ms, default=None),
        "expired": expired,
        "kept": kept,
        "lost": writer.sent - (kept + expired),
        "vacuumed_pages": int(metrics.get("telering_retention_vacuumed_pages_total", 0)),
        "retention_failures": int(metrics.get("telering_retention_failures_total", 0)),
    }


async def settled_counts(http: aiohttp.ClientSession, url: str, db_path: Path, sent: int) -> tuple[int, int]:
    """(rows kept, rows expired) at one moment: the expired count read before and after the
    rows, equal, so no retention batch committed in between (retried for up to a minute)."""
    deadline = time.monotonic() + 60
    while True:
        before = (await scrape(http, url))["telering_retention_expired_total{readings}"]
        kept = database_figures(db_path)["raw_rows"]
        after = (await scrape(http, url))["telering_retention_expired_total{readings}"]
        if (before == after and kept + after == sent) or time.monotonic() > deadline:
            return kept, int(after)
        await asyncio.sleep(0.2)  # a retention batch was committing: look again


def levelling(samples: list[dict], settle_s: float) -> dict:
    """After the retention first caught up (`settle_s`): the size's maximum in the first and
    the second half of the rest of the run (equal within the saw-tooth of rounds: levelled off)
    and its least-squares slope."""
    steady = [(s["t_s"], (s["db_bytes"] + s["wal_bytes"]) / 2**20) for s in samples if s["t_s"] >= settle_s]
    half = len(steady) // 2
    return {
        "settle_s": settle_s,
        "size_mb_max_first_half": max((v for _, v in steady[:half]), default=None),
        "size_mb_max_second_half": max((v for _, v in steady[half:]), default=None),
        "size_mb_at_end": steady[-1][1] if steady else None,
        "slope_mb_per_min_after_settle": slope_per_min(steady),
        "peak_size_mb_overall": max((s["db_bytes"] + s["wal_bytes"]) / 2**20 for s in samples),
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = results["samples"]
    minutes = [s["t_s"] / 60 for s in samples]
    fig, size_ax = plt.subplots(figsize=(7, 4))
    size_ax.plot(minutes, [(s["db_bytes"] + s["wal_bytes"]) / 2**20 for s in samples], label="database + WAL (MB)")
    size_ax.plot(minutes, [s["db_bytes"] / 2**20 for s in samples], label="database file (MB)")
    size_ax.plot(minutes, [s["wal_bytes"] / 2**20 for s in samples], label="WAL (MB)", color="tab:grey", alpha=0.7)
    size_ax.set_xlabel("minutes")
    size_ax.set_ylabel("MB")
    size_ax.axvline(results["retention_raw_s"] / 60, color="grey", linestyle=":", label="retention")
    rows_ax = size_ax.twinx()
    rows_ax.plot(minutes, [s["raw_rows"] for s in samples], color="tab:green", alpha=0.6, label="raw rows kept")
    rows_ax.set_ylabel("raw rows kept")
    rows_ax.set_ylim(bottom=0)
    size_ax.set_ylim(bottom=0)
    handles = size_ax.get_legend_handles_labels()[0] + rows_ax.get_legend_handles_labels()[0]
    size_ax.legend(handles=handles, loc="lower right")
    size_ax.set_title(
        f"soak: {results['rate']:,.0f} readings/s, raw retention {format_duration(results['retention_raw_s'])}"
    )
    size_ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30, help="how long to ingest (default 30)")
    parser.add_argument(
        "--retention-raw", type=_duration, default=300.0, help="TELERING_RETENTION_RAW, a duration (default 5m)"
    )
    parser.add_argument(
        "--retention-interval",
        type=_duration,
        default=10.0,
        help="TELERING_RETENTION_INTERVAL, a duration up to 60s (default 10s)",
    )
    parser.add_argument("--rate", type=float, default=1000, help="readings/s offered (default 1000)")
    parser.add_argument("--sensors", type=int, default=20, help="sensors (default 20)")
    parser.add_argument("--sample-every", type=float, default=10, help="seconds between samples (default 10)")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results as JSON (default {RESULTS})")
    parser.add_argument("--plot", type=Path, default=PLOT, help=f"PNG plot of size over time (default {PLOT})")
    parser.add_argument(
        "--workdir", type=Path, help="keep the web node's log and database here (default: a temporary directory)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with work_directory(args) as workdir:
        keys_file, db_path, port = workdir / "telering.keys", workdir / "soak.db", free_port()
        add_key(keys_file)
        env = child_env(
            {
                "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
                "TELERING_KEYS_FILE": str(keys_file),
                "WEB_NODE_HOST": "127.0.0.1",
                "WEB_NODE_PORT": str(port),
                "READINGS_PARTITIONS": str(PARTITIONS),
                "WEB_NODE_READ_AUTH": "off",
                "TELERING_RETENTION_RAW": f"{args.retention_raw}s",
                "TELERING_RETENTION_INTERVAL": f"{args.retention_interval}s",
            }
        )
        web = ManagedProcess("web", python_argv("web_node"), env, workdir / "web.log").start()
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, web, timeout=120)
            log.info(
                "soak: %g readings/s for %g min, raw retention %s",
                args.rate,
                args.minutes,
                format_duration(args.retention_raw),
            )
            measured = asyncio.run(soak(args, url, read_key_file(keys_file), db_path))
        finally:
            web.stop()
    settle = args.retention_raw + 2 * args.retention_interval + args.sample_every
    results = {
        "benchmark": "soak",
        "machine": machine(),
        "argv": sys.argv[1:] if argv is None else argv,
        "minutes": args.minutes,
        "rate": args.rate,
        "sensors": args.sensors,
        "retention_raw_s": args.retention_raw,
        "retention_interval_s": args.retention_interval,
        "levelling": levelling(measured["samples"], settle),
        **measured,
    }
    level = results["levelling"]
    print(
        f"\nsoak: sent {results['sent']:,}  stored {results['stored']:,}  expired {results['expired']:,}  "
        f"kept {results['kept']:,}  lost {results['lost']}  duplicates {results['duplicates']}\n"
        f"batches {results['batches']:,}: p50 {results['batch_p50_ms'] or 0:.1f} ms, "
        f"p99 {results['batch_p99_ms'] or 0:.1f} ms, max {results['batch_max_ms'] or 0:.1f} ms\n"
        f"database + WAL after settling ({level['settle_s']:.0f} s): max {level['size_mb_max_first_half'] or 0:.1f} MB "
        f"in the first half, {level['size_mb_max_second_half'] or 0:.1f} MB in the second, "
        f"{level['size_mb_at_end'] or 0:.1f} MB at the end "
        f"(slope {level['slope_mb_per_min_after_settle'] or 0:+.2f} MB/min)"
    )
    write_json(args.json, results)
    if args.plot:
        plot(results, args.plot)
    return 0 if results["lost"] == 0 and results["stored"] == results["sent"] else 1


if __name__ == "__main__":
    sys.exit(main())
