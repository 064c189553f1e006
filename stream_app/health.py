"""The worker's readiness: in both consumer groups, with every loop alive (GET /healthz).

Ready means: the receivers' consumer holds the assignment of a completed rebalance, Faust's own
group (leader election) is assigned and not rebalancing, and the worker's loops have shown life
lately — the consumer polled, the token topic was read (every worker hears its own presence
each second) and, on every worker, the coordinator loop went round. A loop that died or hangs
turns the worker unready (and a dead one also ends the process: stream_app/worker.py).
"""

from __future__ import annotations

import time
from typing import Any

from stream_app.worker import Worker

LOOP_STALE_S = 15.0


def check(worker: Worker) -> tuple[bool, dict[str, Any]]:
    """(ready, details) for GET /healthz."""
    receivers = worker.receivers.status() if worker.receivers is not None else None
    tokens = worker.tokens.status() if worker.tokens is not None else None
    now = time.monotonic()
    coordinator_stale = max(LOOP_STALE_S, 3 * worker.settings.grant_ttl_s)
    running = worker.running
    checks = {
        "running": running,
        "receivers_group": receivers is not None and receivers.in_group,
        "faust_group": worker.faust_assigned and not worker.app.rebalancing,
        "consumer_loop": receivers is not None and now - receivers.last_poll < LOOP_STALE_S,
        "token_loop": tokens is not None and now - tokens.last_record_at < LOOP_STALE_S,
        "coordinator_loop": tokens is not None and now - tokens.coordinator.heartbeat < coordinator_stale,
    }
    ready = all(checks.values())
    details: dict[str, Any] = {"status": "ok" if ready else "unavailable", "worker": worker.worker_id, "checks": checks}
    if receivers is not None:
        details["receivers"] = sorted(receivers.pending)
        details["buffered"] = receivers.buffered
    details["leader"] = worker.app.is_leader() if running else False
    return ready, details
