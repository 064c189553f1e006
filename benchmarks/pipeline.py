"""The whole pipeline on this machine, against baselines run on the same broker and input.

Two phases, each on fresh topics, a fresh web node and database (a SQLite file, or with
`--database postgresql` a database of a throwaway PostgreSQL cluster) and fresh workers:

- drain: the `readings` topic is pre-loaded with `--readings` readings before any worker
  starts, then the workers drain it as fast as they can. `readings_per_s` is the rate between
  the 10th and 90th percentile of `stored_at` (warm-up and tail cut off), CPU-µs per reading
  are the processes' own CPU time over that window. On the same pre-loaded topic, one at a
  time: `ceiling` (kafka-python consumer that only decodes and counts), `ceiling_aiokafka`
  (the same with aiokafka, what the receivers use), `baseline_naive` (kafka-python consumer,
  one SQLite insert + commit per reading, SQLite's default rollback journal with fsync: the
  seed project's way) and `baseline_naive_wal` (the same in WAL, synchronous=NORMAL).
- rate: `--producers` simulators offer `--rate` readings/s for `--seconds`; latency is
  `stored_at - ts` per reading measured after `--warmup` s; memory is sampled throughout.

With `--secure`, the drain runs twice on one broker that serves both listeners: over
PLAINTEXT with plain HTTP and open reads, then over SASL_SSL (SCRAM-SHA-512, TLS to Kafka) with
HTTPS to the web node and a reader token; `secure` reports both and the ratios of their
throughput and CPU per reading (the cost of security). The baselines are skipped then.

Figures are noisy on a shared machine: compare them with the baselines of the same run.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from benchmarks import baselines
from kafka_local import LocalKafka
from protocol.kafka_acls import EVERY_ROLE, Principals
from protocol.settings import Settings
from testkit.bench import (
    add_common_options,
    add_database_option,
    databases,
    integrity,
    work_directory,
    workdir_and_broker,
    worker_names,
)
from testkit.load import start_load
from testkit.pipeline import PipelineHarness, WebTls
from testkit.report import machine, percentile, rate, slope_per_min, sustained_window, table, write_json
from testkit.ring import read_turns, ring_stats
from testkit.sampling import ProcessSampler

log = logging.getLogger(__name__)
MB = 2**20


def drain(
    args: argparse.Namespace,
    workdir: Path,
    bootstrap: str,
    secured: LocalKafka | None = None,
    authorizer: LocalKafka | None = None,
) -> dict:
    """The drain phase; with `secured`, over its SASL_SSL listener, HTTPS and reader tokens. On
    a broker with ACLs (`authorizer`) the drain's roles get theirs first: over its PLAINTEXT
    listener everyone is `User:ANONYMOUS`."""
    security = {}
    if secured is not None:
        security = {"kafka_env": secured.client_env(), "web_tls": WebTls.make(workdir / "tls"), "read_auth": True}
    harness = PipelineHarness(
        bootstrap, workdir / "drain", partitions=args.partitions, database_url=args.new_database(), **security
    )
    if authorizer is not None:
        anonymous = "User:ANONYMOUS"
        principals = EVERY_ROLE if secured is not None else Principals(anonymous, anonymous, None)
        deployment = Settings(telering_topic_prefix=harness.prefix, telering_app_id=harness.app_id)
        authorizer.grant_roles(deployment, principals)
    sampler = ProcessSampler().start()
    try:
        log.info("pre-loading %d readings with %d producers", args.readings, args.producers)
        sent = start_load(harness, producers=args.producers, sensors=args.sensors, count=args.readings).wait()
        n = sent["sent_valid"]
        result: dict = {"readings": n}
        if not args.skip_baselines and not args.secure:
            for kind in ("ceiling", "ceiling-aiokafka"):
                result[kind.replace("-", "_")] = _baseline(kind, args, harness, n)
        started = time.time()
        _web, _ = harness.start(args.workers, settle=True, sampler=sampler, timeout=120)
        harness.wait_stored(n, timeout=max(180.0, n / 1000))
        result["telering"] = _telering_drain(harness, sampler, n, started)
        if not args.skip_baselines and not args.secure:
            for kind in ("naive", "naive-wal"):
                result[f"baseline_{kind.replace('-', '_')}"] = _baseline(kind, args, harness, n)
        return result
    finally:
        sampler.stop()
        harness.stop()


def _baseline(kind: str, args: argparse.Namespace, harness: PipelineHarness, n: int) -> dict:
    log.info("baseline %s", kind)
    return baselines.run(
        kind,
        bootstrap=harness.bootstrap,
        topic=harness.topics.readings,
        expect=n,
        max_seconds=args.baseline_seconds,
        workdir=harness.workdir,
    )


def _telering_drain(harness: PipelineHarness, sampler: ProcessSampler, n: int, started: float) -> dict:
    stored_at = [r[0] for r in harness.query("SELECT stored_at FROM readings")]
    window = sustained_window(stored_at)
    start, end, count = window
    out = {
        "readings_per_s": rate(window),
        "window_s": end - start,
        "drain_s": max(stored_at) - started,
        **integrity(harness, n),
        **_cpu_and_memory(sampler, start, end, count),
    }
    out["ring"] = ring_stats(read_turns(harness.bootstrap, harness.topics.token, harness.kafka_options), start, end)
    return out


def secure_cost(args: argparse.Namespace, workdir: Path) -> dict:
    """The drain over PLAINTEXT, then over SASL_SSL + HTTPS + reader tokens, on one broker."""
    broker = LocalKafka(workdir / "kafka-secure", security="SASL_SSL")
    broker.start()
    try:
        plain = drain(args, workdir / "plaintext", broker.plaintext_bootstrap, authorizer=broker)["telering"]
        secure = drain(args, workdir / "secure", broker.bootstrap, broker, authorizer=broker)["telering"]
    finally:
        broker.stop()
    keys = ("readings_per_s", "worker_cpu_us_per_reading", "web_cpu_us_per_reading", "lost", "duplicated")
    out: dict = {"plaintext": {k: plain.get(k) for k in keys}, "secure": {k: secure.get(k) for k in keys}}
    for key, name in (
        ("readings_per_s", "throughput_ratio"),
        ("worker_cpu_us_per_reading", "worker_cpu_ratio"),
        ("web_cpu_us_per_reading", "web_cpu_ratio"),
    ):
        if plain.get(key) and secure.get(key):
            out[name] = secure[key] / plain[key]
    return out


def at_rate(args: argparse.Namespace, workdir: Path, bootstrap: str) -> dict:
    harness = PipelineHarness(bootstrap, workdir / "rate", partitions=args.partitions, database_url=args.new_database())
    sampler = ProcessSampler(interval=0.5).start()
    try:
        harness.start(args.workers, settle=True, sampler=sampler, timeout=120)
        load = start_load(harness, producers=args.producers, sensors=args.sensors, rate=args.rate, seconds=args.seconds)
        sent = load.wait(timeout=args.seconds + 300)
        harness.wait_stored(sent["sent_valid"], timeout=120)
        steady = load.started_at + args.warmup
        end = load.started_at + sent["elapsed_s"]
        rows = harness.query("SELECT stored_at - ts, stored_at FROM readings WHERE ts >= ?", (steady,))
        latencies = [1000 * r[0] for r in rows]
        in_window = sum(1 for r in rows if r[1] <= end)
        return {
            "offered_per_s": sent["rate"],
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "stored_per_s": in_window / (end - steady) if end > steady else None,
            "p50_latency_ms": percentile(latencies, 50),
            "p99_latency_ms": percentile(latencies, 99),
            "max_latency_ms": max(latencies, default=None),
            **integrity(harness, sent["sent_valid"]),
            **_cpu_and_memory(sampler, steady, end, in_window),
            "ring": ring_stats(read_turns(bootstrap, harness.topics.token), steady, end),
        }
    finally:
        sampler.stop()
        harness.stop()


def _cpu_and_memory(sampler: ProcessSampler, start: float, end: float, readings: int) -> dict:
    out: dict = {}
    workers = worker_names(sampler)
    if readings:
        out["worker_cpu_us_per_reading"] = sum(sampler.cpu_between(w, start, end) for w in workers) / readings * 1e6
        out["web_cpu_us_per_reading"] = sampler.cpu_between("web", start, end) / readings * 1e6
    for name in ["web", *workers]:
        samples = sampler.rss_between(name, start, end)
        out[f"{name}_peak_rss_mb"] = sampler.peak_rss(name) / MB
        if samples:
            out[f"{name}_rss_mb_start_end"] = [samples[0].rss / MB, samples[-1].rss / MB]
            out[f"{name}_rss_slope_mb_per_min"] = slope_per_min([(s.at - start, s.rss / MB) for s in samples])
    return out


def summarize(results: dict) -> None:
    s = results.get("secure")
    if s:
        rows = [
            [name, s[name]["readings_per_s"], s[name]["worker_cpu_us_per_reading"], s[name]["web_cpu_us_per_reading"]]
            for name in ("plaintext", "secure")
        ]
        rows.append(
            ["secure / plaintext", s.get("throughput_ratio"), s.get("worker_cpu_ratio"), s.get("web_cpu_ratio")]
        )
        print(f"\ndrain of {results['readings']:,} readings: PLAINTEXT + HTTP vs SASL_SSL + HTTPS + reader token")
        print(table(rows, ["pipeline", "readings/s", "worker CPU-µs/r", "web CPU-µs/r"]))
    d = results.get("drain")
    if d:
        t = d["telering"]
        for key in ("baseline_naive", "baseline_naive_wal", "ceiling", "ceiling_aiokafka"):
            base = d.get(key, {}).get("readings_per_s")
            if base and t["readings_per_s"]:
                name = {"ceiling": "fraction_of_ceiling", "ceiling_aiokafka": "fraction_of_ceiling_aiokafka"}.get(
                    key, f"ratio_vs_{key.removeprefix('baseline_')}"
                )
                results[name] = t["readings_per_s"] / base
        rows = [
            [
                "telering",
                t["readings_per_s"],
                t.get("worker_cpu_us_per_reading"),
                t.get("web_cpu_us_per_reading"),
                t["lost"],
                t["duplicated"],
            ]
        ]
        for key in ("baseline_naive", "baseline_naive_wal", "ceiling", "ceiling_aiokafka"):
            if key in d:
                rows.append([key, d[key]["readings_per_s"], d[key]["cpu_us_per_reading"], None, None, None])
        print(f"\ndrain of {d['readings']:,} pre-loaded readings, {results['workers']} worker(s)")
        print(table(rows, ["consumer", "readings/s", "worker CPU-µs/r", "web CPU-µs/r", "lost", "dup"]))
        print(
            "  ".join(
                f"{k}={results[k]:.2f}"
                for k in ("ratio_vs_naive", "ratio_vs_naive_wal", "fraction_of_ceiling", "fraction_of_ceiling_aiokafka")
                if k in results
            )
        )
    r = results.get("rate")
    if r:
        print(f"\nfixed rate: {r['offered_per_s']:,.0f} readings/s offered for {r['seconds']:g} s")
        print(
            table(
                [
                    [
                        r["stored_per_s"],
                        r["p50_latency_ms"],
                        r["p99_latency_ms"],
                        r.get("worker_cpu_us_per_reading"),
                        r.get("web_cpu_us_per_reading"),
                        r.get("worker0_peak_rss_mb"),
                        r.get("web_peak_rss_mb"),
                        r["lost"],
                        r["duplicated"],
                    ]
                ],
                [
                    "stored/s",
                    "p50 ms",
                    "p99 ms",
                    "worker µs/r",
                    "web µs/r",
                    "worker0 RSS MB",
                    "web RSS MB",
                    "lost",
                    "dup",
                ],
            )
        )


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = results.get("drain", {})
    names = [k for k in ("telering", "baseline_naive", "baseline_naive_wal", "ceiling", "ceiling_aiokafka") if k in d]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(names, [d[k]["readings_per_s"] or 0 for k in names], color=["tab:green"] + ["tab:gray"] * (len(names) - 1))
    ax.set_xlabel("readings/s (drain of a pre-loaded topic)")
    ax.set_title(f"telering pipeline vs baselines, {results['workers']} worker(s), same run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_options(parser)
    add_database_option(parser)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of `readings` = receivers (default 4)")
    parser.add_argument("--sensors", type=int, default=100, help="simulated sensors (default 100)")
    parser.add_argument("--producers", type=int, default=2, help="simulator processes offering load (default 2)")
    parser.add_argument(
        "--readings", type=int, default=200_000, help="readings pre-loaded for the drain (default 200000)"
    )
    parser.add_argument("--rate", type=float, default=5000, help="offered readings/s of the rate phase (default 5000)")
    parser.add_argument("--seconds", type=float, default=30, help="length of the rate phase (default 30)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of the rate phase not measured (default 5)")
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=20,
        help="time limit of each baseline (the naive ones never finish a large topic; default 20)",
    )
    parser.add_argument("--skip-baselines", action="store_true", help="only telering in the drain phase")
    parser.add_argument("--phases", default="drain,rate", help="comma-separated: drain, rate (default both)")
    parser.add_argument(
        "--secure",
        action="store_true",
        help="instead of the phases: the drain over PLAINTEXT and then over SASL_SSL + HTTPS + reader tokens, "
        "on one local broker of its own (--bootstrap is ignored), and the cost ratios",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python's connection chatter
    phases = set(args.phases.split(","))
    results: dict = {
        "benchmark": "pipeline",
        "machine": machine(),
        "workers": args.workers,
        "partitions": args.partitions,
        "argv": sys.argv[1:] if argv is None else argv,
        "database": args.database,
    }
    args.new_database = lambda: None
    if args.secure:
        with work_directory(args) as workdir:
            results["secure"] = secure_cost(args, workdir)
        results["readings"] = args.readings
        summarize(results)
        for key in ("lost", "duplicated"):
            results[key] = sum(results["secure"][name][key] for name in ("plaintext", "secure"))
        write_json(args.json, results)
        return 0
    with workdir_and_broker(args) as (workdir, bootstrap), databases(args) as args.new_database:
        if "drain" in phases:
            results["drain"] = drain(args, workdir, bootstrap)
        if "rate" in phases:
            results["rate"] = at_rate(args, workdir, bootstrap)
    summarize(results)
    headline = results.get("drain", {}).get("telering", {})
    results["readings_per_s"] = headline.get("readings_per_s")
    for key in ("p50_latency_ms", "p99_latency_ms"):
        results[key] = results.get("rate", {}).get(key)
    for key in ("lost", "duplicated"):  # over both phases
        results[key] = headline.get(key, 0) + results.get("rate", {}).get(key, 0)
    write_json(args.json, results)
    if args.plot and "drain" in results:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
