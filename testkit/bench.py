"""What every benchmark does around its measurement: a broker, a work directory, a database,
and sent against stored (the pipeline starts with `PipelineHarness.start(settle=True)`)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka_local import broker_from_env
from testkit.database import postgres_databases
from testkit.pipeline import PipelineHarness
from testkit.sampling import ProcessSampler


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


def worker_names(sampler: ProcessSampler) -> list[str]:
    return [n for n in sampler.names() if n.startswith("worker")]


def integrity(harness: PipelineHarness, sent: int) -> dict:
    """Sent against stored: `lost` readings never stored, `duplicated` readings counted beyond the
    rows (by the web node's stored counter, or in a rollup or a sensor's summary)."""
    stored = harness.stored()
    return {"sent": sent, "stored": stored, "lost": sent - stored, "duplicated": harness.doubles().excess}
