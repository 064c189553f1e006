"""Fault scenarios as a report: `python -m benchmarks.faults --json OUT [--scenarios a,b]`.

Runs the scenarios of `testkit.scenarios` (the same code `tests/faults` asserts on) on a
local Kafka broker (or KAFKA_BOOTSTRAP; `broker-restart` always gets a private local broker it
may restart), and writes per scenario `{"scenario", "sent", "stored", "lost", "duplicated",
"recovery_s"}`; prints them as a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

from kafka_local import LocalKafka, broker_from_env
from testkit.scenarios import SCENARIOS, ScenarioResult, run_scenario

log = logging.getLogger(__name__)

COLUMNS = ("scenario", "sent", "stored", "lost", "duplicated", "recovery_s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.faults", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, required=True, metavar="OUT", help="write the results here")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of: {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--workdir", type=Path, help="keep logs and databases here (default: a temporary directory)")
    parser.add_argument("--evidence", action="store_true", help="also print each scenario's evidence")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    if unknown := [n for n in names if n not in SCENARIOS]:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # reconnect noise while a broker restarts

    with tempfile.TemporaryDirectory(prefix="telering-faults-") as tmp:
        workdir = args.workdir or Path(tmp)
        results = run_all(names, workdir)
    report = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "results": [r.row() for r in results],
        "evidence": {r.scenario: r.evidence for r in results},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(results))
    if args.evidence:
        for r in results:
            print(f"\n{r.scenario}: {json.dumps(r.evidence, default=str)}")
    return 0 if all(r.lost == 0 and r.duplicated == 0 and r.sent == r.stored for r in results) else 1


def run_all(names: list[str], workdir: Path) -> list[ScenarioResult]:
    results = []
    shared = [n for n in names if not SCENARIOS[n].private_broker]
    if shared:
        with broker_from_env(workdir / "kafka") as bootstrap:
            for name in shared:
                results.append(_timed(name, lambda name=name: run_scenario(name, bootstrap, workdir / name)))
    for name in (n for n in names if SCENARIOS[n].private_broker):
        with LocalKafka(workdir / f"kafka-{name}") as broker:
            results.append(
                _timed(
                    name, lambda name=name, broker=broker: run_scenario(name, broker.bootstrap, workdir / name, broker)
                )
            )
    order = {n: i for i, n in enumerate(names)}
    return sorted(results, key=lambda r: order[r.scenario])


def _timed(name: str, run) -> ScenarioResult:  # type: ignore[no-untyped-def]
    log.info("scenario %s: starting", name)
    started = time.monotonic()
    result = run()
    log.info("scenario %s: done in %.0f s: %s", name, time.monotonic() - started, result.row())
    return result


def table(results: list[ScenarioResult]) -> str:
    """A Markdown table of the results (also fit for docs/faults.md)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in results:
        row = r.row()
        lines.append("| " + " | ".join("—" if row[c] is None else str(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
