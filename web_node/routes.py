"""The route table."""

from __future__ import annotations

from aiohttp import web

from web_node.batches import post_batch
from web_node.health import healthz


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/batches", post_batch)
    app.router.add_get("/healthz", healthz)
