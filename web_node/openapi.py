"""`GET /api/v1/openapi.json`: the OpenAPI 3 document kept next to this module (openapi.json).

It is written by hand, as the contract of docs/API.md; tests/web_node/test_openapi.py checks
that it names exactly the routes the app serves and fuzzes the app against it (schemathesis).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from aiohttp import web


@cache
def document_bytes() -> bytes:
    """The packaged document, read once (on first request, not at import)."""
    return resources.files("web_node").joinpath("openapi.json").read_bytes()


def document() -> dict[str, Any]:
    return json.loads(document_bytes())


async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=document_bytes(), content_type="application/json")
