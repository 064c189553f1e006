"""JSON on the wire through orjson: every read answer and the live push (`dumps` serialises a
document once; a publisher can hand the same bytes to every client)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

CONTENT_TYPE = "application/json"


def dumps(document: Any) -> bytes:
    """`document` as compact UTF-8 JSON (what `json.dumps` gives, without the spaces)."""
    return orjson.dumps(document)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def response(
    document: Any = None, *, body: bytes | None = None, status: int = 200, etag: str | None = None
) -> web.Response:
    """A JSON answer of `document` (or of JSON `body` already serialised), tagged with `etag`."""
    answer = web.Response(body=dumps(document) if body is None else body, status=status, content_type=CONTENT_TYPE)
    if etag is not None:
        answer.headers["ETag"] = etag
    return answer
