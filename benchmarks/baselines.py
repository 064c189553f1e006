"""Baselines the pipeline benchmark runs over the same pre-loaded topic, each in its own process.

- `naive`: the seed project's way: a kafka-python consumer that inserts each reading into
  SQLite (same table and indexes as the web node's) with its own commit, SQLite's defaults
  (rollback journal, synchronous=FULL: an fsync per reading).
- `naive-wal`: the same per-reading commits in WAL mode with synchronous=NORMAL (the web
  node's pragmas), to separate what batching wins from what fsync costs.
- `ceiling`: a kafka-python consumer that only decodes (json) and counts.
- `ceiling-aiokafka`: the same with aiokafka, the client telering's receivers use.

`python -m benchmarks.baselines KIND --bootstrap B --topic T --expect N --json OUT`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from protocol.kafka_security import aiokafka_options, kafka_python_options
from protocol.settings import Settings
from testkit.report import write_json

KINDS = ("naive", "naive-wal", "ceiling", "ceiling-aiokafka")
_INSERT = (
    "INSERT INTO readings (sensor_id, seq, ts, temperature, humidity, pressure, battery, stored_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sensor_id, seq) DO NOTHING"
)


class Meter:
    """Checkpoints (count, unix time, own CPU seconds); the rate and CPU over the middle 80%."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.points: list[tuple[int, float, float]] = []
        self.count = 0

    def add(self, n: int = 1) -> None:
        self.count += n
        if not self.points or self.count - self.points[-1][0] >= max(1, self.expect // 200):
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.points.append((self.count, time.time(), usage.ru_utime + usage.ru_stime))

    def result(self) -> dict:
        lo = [p for p in self.points if p[0] >= 0.1 * self.count]
        hi = [p for p in self.points if p[0] <= 0.9 * self.count]
        if not lo or not hi or hi[-1][1] <= lo[0][1]:
            return {"processed": self.count, "readings_per_s": None, "cpu_us_per_reading": None}
        (n0, t0, c0), (n1, t1, c1) = lo[0], hi[-1]
        return {
            "processed": self.count,
            "readings_per_s": (n1 - n0) / (t1 - t0),
            "cpu_us_per_reading": (c1 - c0) / (n1 - n0) * 1e6,
            "window_s": t1 - t0,
        }


def _connection(bootstrap: str) -> Settings:
    """`--bootstrap`, with the KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* of the environment."""
    return Settings().model_copy(update={"kafka_bootstrap": bootstrap})


def _consumer(bootstrap: str, topic: str, **options) -> KafkaConsumer:
    connection = kafka_python_options(_connection(bootstrap))
    consumer = KafkaConsumer(**connection, group_id=None, enable_auto_commit=False, **options)
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    return consumer


def naive(args: argparse.Namespace, *, wal: bool) -> dict:
    conn = sqlite3.connect(args.db)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    meter, deadline = Meter(args.expect), time.monotonic() + args.max_seconds
    consumer = _consumer(args.bootstrap, args.topic)
    try:
        while meter.count < args.expect and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    r = json.loads(record.value)
                    conn.execute(
                        _INSERT,
                        (
                            r["sensor_id"],
                            r["seq"],
                            datetime.fromisoformat(r["ts"]).timestamp(),
                            r["temperature"],
                            r["humidity"],
                            r["pressure"],
                            r["battery"],
                            time.time(),
                        ),
                    )
                    conn.commit()
                    meter.add()
    finally:
        consumer.close()
        conn.close()
    return meter.result()


def ceiling(args: argparse.Namespace) -> dict:
    meter, deadline = Meter(args.expect), time.monotonic() + args.max_seconds
    consumer = _consumer(args.bootstrap, args.topic, max_partition_fetch_bytes=4 << 20)
    try:
        while meter.count < args.expect and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                for record in records:
                    json.loads(record.value)
                meter.add(len(records))
    finally:
        consumer.close()
    return meter.result()


async def ceiling_aiokafka(args: argparse.Namespace) -> dict:
    from aiokafka import AIOKafkaConsumer

    # group-less and subscribed: every partition, from the beginning (no committed offsets)
    consumer = AIOKafkaConsumer(
        args.topic,
        **aiokafka_options(_connection(args.bootstrap)),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    meter, deadline = Meter(args.expect), time.monotonic() + args.max_seconds
    try:
        while meter.count < args.expect and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    json.loads(record.value)
                meter.add(len(records))
    finally:
        await consumer.stop()
    return meter.result()


def run(kind: str, *, bootstrap: str, topic: str, expect: int, max_seconds: float, workdir: Path) -> dict:
    """Run one baseline in a fresh process (its own CPU time, no interference); its result."""
    out = workdir / f"baseline-{kind}.json"
    argv = [
        sys.executable,
        "-m",
        "benchmarks.baselines",
        kind,
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--expect",
        str(expect),
        "--max-seconds",
        str(max_seconds),
        "--json",
        str(out),
        "--db",
        str(workdir / f"baseline-{kind}.db"),
    ]
    subprocess.run(argv, check=True, timeout=max_seconds + 120)
    return json.loads(out.read_text())


def _prepare_db(path: Path) -> None:
    """The web node's own `readings` table and indexes (from the model), nothing else."""
    from sqlalchemy import create_engine

    from protocol.readings import Reading

    path.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    Reading.__table__.create(engine)
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.baselines", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=KINDS, help="which baseline")
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topic", required=True, help="the pre-loaded readings topic (read from the beginning)")
    parser.add_argument("--expect", type=int, required=True, help="readings in the topic: stop after this many")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="stop after this long anyway (default 30)")
    parser.add_argument("--db", type=Path, default=Path("baseline.db"), help="SQLite file of the naive baselines")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    if args.kind.startswith("naive"):
        _prepare_db(args.db)
        result = naive(args, wal=args.kind == "naive-wal")
    elif args.kind == "ceiling":
        result = ceiling(args)
    else:
        result = asyncio.run(ceiling_aiokafka(args))
    result["kind"] = args.kind
    write_json(args.json, result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
