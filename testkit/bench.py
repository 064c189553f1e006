"""What every benchmark does around its measurement: a broker, a work directory, a running
pipeline (web node + N workers whose receivers have settled), queries on its SQLite file."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka_local import broker_from_env
from testkit.database import postgres_databases
from testkit.observers import owned
from testkit.pipeline import PipelineHarness
from testkit.processes import ManagedProcess
from testkit.sampling import ProcessSampler
from testkit.waiting import eventually


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--plot", type=Path, help="write a PNG plot here")
    parser.add_argument(
        "--bootstrap",
        help="use this running Kafka broker (default: start a local one "
        "in the work directory, or KAFKA_BOOTSTRAP if set)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep processes' logs and databases here (default: a temporary directory, removed afterwards)",
    )


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the web node's database: a SQLite file in the work directory (default), or a database "
        "of a throwaway PostgreSQL cluster started for the run (needs PostgreSQL's server binaries)",
    )


@contextmanager
def databases(args: argparse.Namespace) -> Iterator[Callable[[], str | None]]:
    """A factory of fresh databases of `--database` for harnesses (None: the harness's own SQLite
    file); a PostgreSQL cluster lives as long as the context."""
    if args.database == "sqlite":
        yield lambda: None
    else:
        with postgres_databases() as make:
            yield make


@contextmanager
def work_directory(args: argparse.Namespace) -> Iterator[Path]:
    """`--workdir`, or a temporary directory removed afterwards."""
    tmp = None
    if args.workdir is None:
        tmp = Path(tempfile.mkdtemp(prefix="telering-bench-"))
    workdir = args.workdir or tmp
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        yield workdir
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def workdir_and_broker(args: argparse.Namespace) -> Iterator[tuple[Path, str]]:
    """The work directory and a broker bootstrap for the run; both cleaned up afterwards."""
    with work_directory(args) as workdir:
        if args.bootstrap:
            yield workdir, args.bootstrap
        else:
            with broker_from_env(workdir / "kafka") as bootstrap:
                yield workdir, bootstrap


def start_pipeline(
    harness: PipelineHarness, workers: int, sampler: ProcessSampler | None = None, timeout: float = 120.0
) -> tuple[ManagedProcess, list[ManagedProcess]]:
    """Web node and `workers` workers, started at once; returns when every receiver has exactly
    one owner (and the coordinator signs), the processes watched by `sampler`."""
    web = harness.start_web_node()
    procs = [harness.start_worker() for _ in range(workers)]
    if sampler is not None:
        sampler.watch("web", web.pid)
        for i, proc in enumerate(procs):
            sampler.watch(f"worker{i}", proc.pid)
    for proc in procs:
        harness.wait_worker_ready(proc, timeout=timeout)
    eventually(
        lambda: _settled(harness, procs),
        timeout=timeout,
        interval=0.2,
        message="receivers never settled on one owner each",
    )
    return web, procs


def _settled(harness: PipelineHarness, procs: list[ManagedProcess]) -> bool:
    """Every receiver has exactly one owner (a worker may own none)."""
    owners: list[int] = []
    for proc in procs:
        assert proc.alive, f"{proc.name} exited:\n{proc.log_tail()}"
        partitions = owned(proc)
        if partitions is None:
            return False
        owners += partitions
    return sorted(owners) == list(range(harness.partitions))


def worker_names(sampler: ProcessSampler) -> list[str]:
    return [n for n in sampler.names() if n.startswith("worker")]


def integrity(harness: PipelineHarness, sent: int) -> dict:
    """Sent against stored: `lost` readings never stored, `duplicated` readings counted beyond the
    rows (by the web node's stored counter, or in a rollup or a sensor's summary)."""
    stored = harness.stored()
    return {"sent": sent, "stored": stored, "lost": sent - stored, "duplicated": harness.doubles().excess}
