"""The route table (docs/API.md; web_node/openapi.py documents the same routes)."""

from __future__ import annotations

from aiohttp import web

from web_node.errors import Handler
from web_node.health import healthz
from web_node.metrics import metrics
from web_node.openapi import openapi_document
from web_node.read import reads
from web_node.read.export import readings_csv
from web_node.read.live import live
from web_node.write.batches import post_batch


def setup_routes(app: web.Application, *, batches: Handler = post_batch) -> None:
    """`batches`: what takes `POST /api/v1/batches` (a process that does not write forwards it)."""
    app.router.add_post("/api/v1/batches", batches)
    app.router.add_get("/api/v1/sensors", reads.sensors)
    app.router.add_get("/api/v1/sensors/{id}/readings", reads.sensor_readings)
    app.router.add_get("/api/v1/sensors/{id}/readings.csv", readings_csv)
    app.router.add_get("/api/v1/readings/latest", reads.latest)
    app.router.add_get("/api/v1/stats", reads.stats)
    app.router.add_get("/api/v1/live", live)
    app.router.add_get("/api/v1/openapi.json", openapi_document)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
