"""`python -m simulator` / `telering-simulator`: produce realistic sensor readings to Kafka.

Prints a progress line to stderr every second and, at the end, the summary JSON to stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from protocol.settings import Settings
from protocol.topics import Topics
from simulator.config import Progress, SimulatorConfig
from simulator.faults import FaultConfig
from simulator.producer import ProducerError
from simulator.runner import run
from simulator.signals import DEFAULT_DAY_LENGTH_S

__all__ = ["build_parser", "config_from_args", "main", "run"]

log = logging.getLogger("simulator")


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    default_topic = Topics.with_prefix(settings.telering_topic_prefix).readings
    parser = argparse.ArgumentParser(
        prog="telering-simulator", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--sensors", type=int, default=10, help="number of simulated sensors")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="messages per second over all sensors; 0 = as fast as possible"
    )
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="stop after S seconds (without --duration or --count: run until Ctrl-C)",
    )
    stop.add_argument("--count", type=int, metavar="C", help="stop after C messages (valid or not)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same signals and faults")
    parser.add_argument(
        "--bootstrap",
        default=settings.kafka_bootstrap,
        help="Kafka bootstrap servers, comma-separated (env KAFKA_BOOTSTRAP)",
    )
    parser.add_argument(
        "--topic", default=default_topic, help="readings topic (env TELERING_TOPIC_PREFIX prefixes the default)"
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=settings.readings_partitions,
        help="partitions of the topic when the simulator has to create it (env READINGS_PARTITIONS)",
    )
    parser.add_argument(
        "--sensor-prefix", default="sensor-", help="sensor ids are this prefix plus a zero-padded index"
    )
    parser.add_argument(
        "--start-seq", type=int, default=0, help="first seq of every sensor, so a second run can continue a first"
    )
    parser.add_argument(
        "--invalid-fraction",
        type=float,
        default=0.0,
        help="fraction of messages that are invalid (malformed JSON, wrong types, NaN, "
        "out of range, missing/extra fields, future ts, …)",
    )
    parser.add_argument(
        "--duplicate-fraction",
        type=float,
        default=0.0,
        help="fraction of messages that re-send an already sent valid reading",
    )
    parser.add_argument(
        "--out-of-order-fraction",
        type=float,
        default=0.0,
        help="fraction of readings held back and sent after the sensor's next one",
    )
    parser.add_argument(
        "--day-length",
        type=float,
        default=DEFAULT_DAY_LENGTH_S,
        metavar="S",
        help="seconds of one simulated day (the daily temperature/humidity cycle)",
    )
    parser.add_argument("--summary-json", type=Path, metavar="PATH", help="also write the final summary JSON to PATH")
    parser.add_argument("--quiet", action="store_true", help="no progress line and no info logging")
    return parser


def config_from_args(args: argparse.Namespace, settings: Settings | None = None) -> SimulatorConfig:
    faults = FaultConfig(
        invalid_fraction=args.invalid_fraction,
        duplicate_fraction=args.duplicate_fraction,
        out_of_order_fraction=args.out_of_order_fraction,
    )
    return SimulatorConfig(
        bootstrap=args.bootstrap,
        topic=args.topic,
        partitions=args.partitions,
        sensors=args.sensors,
        rate=args.rate,
        count=args.count,
        duration_s=args.duration,
        seed=args.seed,
        sensor_prefix=args.sensor_prefix,
        start_seq=args.start_seq,
        faults=faults,
        day_length_s=args.day_length,
        summary_json=args.summary_json,
        progress=None if args.quiet else print_progress,
        kafka=settings,
    )


def print_progress(progress: Progress) -> None:
    print(
        f"simulator: {progress.elapsed_s:7.1f} s  {progress.delivered} delivered  "
        f"{progress.submitted - progress.delivered - progress.failed} pending  "
        f"{progress.failed} failed  {progress.rate:,.0f} msg/s",
        file=sys.stderr,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO is connection chatter
    try:
        config = config_from_args(args, settings)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        summary = run(config)
    except ProducerError as exc:
        log.error("%s", exc)
        return 1
    print(summary.to_json())
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
