"""What the circulating token costs as the ring grows: one worker, one web node, P receivers.

For each receiver count P (`--receivers`), on fresh topics (`readings` with P partitions, a topic
prefix of its own) and a fresh web node (SQLite file): one simulator offers the same total
`--rate` for `--seconds`, spread over enough sensors that every partition gets readings (at
least `--sensors` and 2*P). Then the turns are read back from the token topic (Kafka
timestamps) and, for turns granted after `--warmup`:

- cycle: grant -> release of one turn (the receiver's POST to the web node, then its release);
- wait: a receiver's release -> its next grant, how long buffered readings sit between turns;
- ring period: a receiver's grant -> its next grant, one full round of the live receivers;
- readings per flush: what a non-empty turn carried; expired turns; turns;
- lost / duplicated: sent readings never stored / readings counted beyond the rows by the web
  node or a rollup (testkit.integrity; must be 0 / 0).

The offered load stays fixed while P grows, so each receiver's share shrinks: the ring period
grows with P and so do the flushes' sizes. Figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from protocol.partitioning import partition_for
from simulator.messages import sensor_ids
from testkit.bench import add_common_options, integrity, workdir_and_broker
from testkit.load import start_load
from testkit.pipeline import PipelineHarness
from testkit.report import machine, table, write_json
from testkit.ring import read_turns, ring_stats

log = logging.getLogger(__name__)

SENSOR_PREFIX = "p0-sensor-"  # what start_load names the sensors of its one producer
COLUMNS = [
    ("receivers", "P"),
    ("turns", "turns"),
    ("expired_turns", "expired"),
    ("cycle_p50_ms", "cycle p50"),
    ("cycle_p99_ms", "cycle p99"),
    ("wait_p50_ms", "wait p50"),
    ("wait_p99_ms", "wait p99"),
    ("readings_per_flush_mean", "r/flush mean"),
    ("readings_per_flush_p50", "r/flush p50"),
    ("ring_period_p50_ms", "ring p50"),
    ("ring_period_p99_ms", "ring p99"),
    ("lost", "lost"),
    ("duplicated", "dup"),
]


def covering_sensors(partitions: int, minimum: int) -> int:
    """The fewest sensors (at least `minimum`) whose ids hash onto every partition: with
    Kafka's murmur2 partitioner, 2*P sensors leave a few partitions empty at P = 50."""
    n = max(1, minimum)
    while {partition_for(s, partitions) for s in sensor_ids(SENSOR_PREFIX, n)} != set(range(partitions)):
        n += 1
    return n


def run_ring(receivers: int, args: argparse.Namespace, workdir: Path, bootstrap: str) -> dict:
    """One receiver count on its own topics, web node and worker; the ring's figures."""
    harness = PipelineHarness(
        bootstrap, workdir / f"receivers-{receivers}", partitions=receivers, grant_ttl_s=args.grant_ttl
    )
    try:
        harness.start(settle=True, timeout=args.start_timeout)
        sensors = covering_sensors(receivers, max(args.sensors, 2 * receivers))
        log.info("%d receiver(s): %g readings/s from %d sensors for %g s", receivers, args.rate, sensors, args.seconds)
        load = start_load(harness, producers=1, sensors=sensors, rate=args.rate, seconds=args.seconds)
        sent = load.wait(timeout=args.seconds + 300)
        harness.wait_stored(sent["sent_valid"], timeout=120)
        steady, end = load.started_at + args.warmup, load.started_at + sent["elapsed_s"]
        stats = ring_stats(read_turns(bootstrap, harness.topics.token), steady, end)
        return {
            "receivers": receivers,
            "sensors": sensors,
            "offered_per_s": sent["rate"],
            **stats,
            **integrity(harness, sent["sent_valid"]),
        }
    finally:
        harness.stop()


def summarize(results: dict) -> None:
    print(
        f"\ntoken ring, 1 worker, {results['rate']:,.0f} readings/s offered for {results['seconds']:g} s "
        f"(ms; turns after {results['warmup']:g} s)"
    )
    print(table([[run.get(key) for key, _ in COLUMNS] for run in results["runs"]], [h for _, h in COLUMNS]))


def plot(results: dict, path: Path, before: dict | None = None) -> None:
    """Four panels against the receiver count; `before`, an earlier run's results, drawn dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    x = [r["receivers"] for r in runs]
    panels = [
        ("wait for its turn (ms)", [("wait_p50_ms", "p50"), ("wait_p99_ms", "p99")]),
        ("readings per flush", [("readings_per_flush_mean", "mean"), ("readings_per_flush_p50", "p50")]),
        ("full-ring period (ms)", [("ring_period_p50_ms", "p50"), ("ring_period_p99_ms", "p99")]),
        ("turn cycle, grant -> release (ms)", [("cycle_p50_ms", "p50"), ("cycle_p99_ms", "p99")]),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for ax, (title, series) in zip(axes.flat, panels, strict=False):
        for key, label in series:
            ax.plot(x, [r.get(key) if r.get(key) is not None else float("nan") for r in runs], marker="o", label=label)
            if before is not None:
                old = before["runs"]
                ax.plot(
                    [r["receivers"] for r in old],
                    [r.get(key) if r.get(key) is not None else float("nan") for r in old],
                    linestyle="--",
                    marker="x",
                    alpha=0.6,
                    label=f"{label} before",
                )
        ax.set_title(title)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(x, [str(v) for v in x])
        ax.grid(True, alpha=0.3)
        ax.legend()
    for ax in axes[-1]:
        ax.set_xlabel("receivers (partitions of `readings`)")
    fig.suptitle(f"telering token ring: 1 worker, {results['rate']:,.0f} readings/s offered")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _receivers(text: str) -> list[int]:
    try:
        counts = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"must be integers >= 1, got {text!r}")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.token_ring", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_options(parser)
    parser.add_argument(
        "--receivers",
        type=_receivers,
        default=_receivers("1,2,5,10,20,50"),
        help="comma-separated receiver counts, one run each (default 1,2,5,10,20,50)",
    )
    parser.add_argument(
        "--rate", type=float, default=2000, help="offered readings/s, the same for every P (default 2000)"
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of each run's load (default 20)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of each run's load not measured (default 2)")
    parser.add_argument(
        "--sensors",
        type=int,
        default=100,
        help="at least this many sensors (more if needed to cover every partition; default 100)",
    )
    parser.add_argument(
        "--before", type=Path, help="an earlier run's --json, drawn dashed in the plot (the figures before a change)"
    )
    parser.add_argument("--grant-ttl", type=float, default=5.0, help="GRANT_TTL_S of the coordinator (default 5)")
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=180.0,
        help="seconds to wait for the worker to own every receiver (default 180)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO is connection chatter
    results: dict = {
        "benchmark": "token_ring",
        "machine": machine(),
        "workers": 1,
        "rate": args.rate,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "argv": sys.argv[1:] if argv is None else argv,
        "runs": [],
    }
    with workdir_and_broker(args) as (workdir, bootstrap):
        for receivers in args.receivers:
            results["runs"].append(run_ring(receivers, args, workdir, bootstrap))
    for key in ("lost", "duplicated", "expired_turns"):
        results[key] = sum(run[key] for run in results["runs"])
    summarize(results)
    write_json(args.json, results)
    if args.plot:
        plot(results, args.plot, json.loads(args.before.read_text()) if args.before else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
