"""The compose deployment's faults and scale on network-namespace hosts:
`python -m benchmarks.cluster --json OUT [--scenarios a,b] [--scale-count N]` (root).

One cluster (docker-compose.yml + docker-compose.kafka3.yml, three workers: testkit.cluster) runs
the faults of testkit.scenarios.cluster in turn, each ending in an exact sent-vs-stored count
per sensor and a recovery time, then stored/s with 1, 2 and 3 workers on PostgreSQL. Writes
`{"results": [{"scenario", "sent", "stored", "lost", "duplicated", "recovery_s"}], "scale": [...],
"evidence": {...}}` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.faults import table
from testkit.cluster.cluster import Cluster
from testkit.cluster.netns import unavailable_reason
from testkit.report import machine, write_json
from testkit.scenarios.cluster import FAULTS, scale
from testkit.scenarios.cluster_base import ClusterRun

log = logging.getLogger(__name__)

VARIABLES = {"GRANT_TTL_S": "5", "SIM_SENSORS": "24"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, required=True, metavar="OUT", help="write the results here")
    parser.add_argument(
        "--scenarios", default=",".join(FAULTS), help=f"comma-separated subset of: {', '.join(FAULTS)} (default: all)"
    )
    parser.add_argument(
        "--scale-count", type=int, default=40_000, help="readings per scale run (default 40000; 0: no scale runs)"
    )
    parser.add_argument("--workdir", type=Path, help="keep the hosts' logs here (default: a temporary directory)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    if unknown := [n for n in names if n not in FAULTS]:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    if reason := unavailable_reason():
        print(f"benchmarks.cluster: {reason}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # reconnect noise while brokers fail

    with tempfile.TemporaryDirectory(prefix="telering-cluster-") as tmp:
        report = run(names, args.scale_count, args.workdir or Path(tmp))
    write_json(args.json, report)
    print(table_of(report))
    exact = all(r["lost"] == 0 and r["duplicated"] == 0 and r["sent"] == r["stored"] for r in report["results"])
    return 0 if exact and all(s["sent"] == s["stored"] for s in report["scale"]) else 1


def run(names: list[str], scale_count: int, workdir: Path) -> dict:
    started = time.monotonic()
    report: dict = {"machine": machine(), "variables": VARIABLES, "results": [], "scale": [], "evidence": {}}
    with Cluster(workdir, scale={"worker": 3}, variables=VARIABLES) as cluster:
        cluster.up([s for s in cluster.project.services if s != "simulator"])
        report["healthy_s"] = cluster.wait_healthy()
        report["up_s"] = round(time.monotonic() - started, 1)
        run_ = ClusterRun(cluster)
        try:
            for name in names:
                log.info("scenario %s: starting", name)
                t = time.monotonic()
                result = FAULTS[name](run_)
                log.info("scenario %s: done in %.0f s: %s", name, time.monotonic() - t, result.row())
                report["results"].append(result.row())
                report["evidence"][name] = result.evidence
            if scale_count > 0:
                for workers in (1, 2, 3):
                    row = scale(run_, workers, scale_count)
                    log.info("scale: %s", row)
                    report["scale"].append(row)
        finally:
            run_.close()
    report["total_s"] = round(time.monotonic() - started, 1)
    return json.loads(json.dumps(report, default=str))


def table_of(report: dict) -> str:
    class Row:  # benchmarks.faults.table takes results with a row()
        def __init__(self, row: dict) -> None:
            self._row = row

        def row(self) -> dict:
            return self._row

    lines = [table([Row(r) for r in report["results"]])]  # type: ignore[list-item]
    if report["scale"]:
        lines += ["", "| workers | sent | stored | offered/s | stored/s |", "|---|---|---|---|---|"]
        for s in report["scale"]:
            lines.append(
                f"| {s['workers']} | {s['sent']} | {s['stored']} | {s['offered_per_s']} | {s['stored_per_s']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
