"""`GET /metrics`: Prometheus text format, from a registry of this application's own.

A registry per application (not prometheus-client's global one) lets several web nodes live
in one process, as they do in the tests. The write path reports each batch through
`batch_accepted` / `batch_refused`; the live hub and the placement check count through the
metrics they are handed here.

With several processes (web_node/processes.py) the parent gives them PROMETHEUS_MULTIPROC_DIR,
a private directory: prometheus-client then keeps every value in a file per process, and
whichever process answers the scrape sums them all (counters and histograms over every process
that ever ran, a dead one's included, so a restart never makes a counter go down; the live
clients gauge over the living ones).
"""

from __future__ import annotations

import os

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from web_node.appkeys import metrics_key
from web_node.read.live import LiveHub
from web_node.write.placement import Placement

# Refusal codes of POST /api/v1/batches (docs/API.md), exported at 0 before they first happen.
REFUSAL_CODES = (
    "invalid_json",
    "grant_invalid",
    "grant_expired",
    "grant_wrong_receiver",
    "grant_superseded",
    "too_large",
    "invalid_body",
    "invalid_readings",
    "storage_unavailable",
)
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own name
STORE_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The web node's counters, histogram and gauges, in their own registry."""

    def __init__(self, hub: LiveHub, placement: Placement) -> None:
        self.registry = CollectorRegistry()
        self.batches_accepted = Counter(
            "telering_batches_accepted", "Batches stored (HTTP 200)", registry=self.registry
        )
        self.batches_refused = Counter(
            "telering_batches_refused", "Batches refused, by error code", ["reason"], registry=self.registry
        )
        self.readings_stored = Counter("telering_readings_stored", "Readings newly stored", registry=self.registry)
        self.readings_duplicate = Counter(
            "telering_readings_duplicate",
            "Readings in accepted batches that were already stored",
            registry=self.registry,
        )
        self.store_seconds = Histogram(
            "telering_store_seconds",
            "Time to store one accepted batch (fence + insert transaction)",
            buckets=STORE_SECONDS_BUCKETS,
            registry=self.registry,
        )
        for code in REFUSAL_CODES:
            self.batches_refused.labels(code)
        hub.clients_gauge = Gauge(
            "telering_live_clients", "Open live WebSocket clients", multiprocess_mode="livesum", registry=self.registry
        )
        hub.dropped_counter = Counter(
            "telering_live_dropped", "Live clients dropped for falling behind (close 1013)", registry=self.registry
        )
        placement.foreign_counter = Counter(
            "telering_readings_unpartitioned",
            "Readings stored from a partition other than murmur2(sensor_id) % READINGS_PARTITIONS (foreign "
            "partitioners, keyless or gateway-keyed producers); stored all the same",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The text format: this registry's, or with several processes, all of theirs summed."""
        if os.environ.get(MULTIPROC_DIR_VARIABLE):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def batch_refused(self, code: str) -> None:
        """A batch refused, by its error code (or "internal")."""
        self.batches_refused.labels(code).inc()

    def batch_accepted(self, stored: int, duplicates: int, seconds: float) -> None:
        """A batch stored: how many readings were new, how many already stored, how long it took."""
        self.batches_accepted.inc()
        self.readings_stored.inc(stored)
        self.readings_duplicate.inc(duplicates)
        self.store_seconds.observe(seconds)


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus text exposition of this web node's registry."""
    body = request.app[metrics_key].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
