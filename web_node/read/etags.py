"""Entity tags of read answers: computed from the change marks (web_node/read/stats_cache.py) and
the request, never by rendering the answer, so a revalidation that matches costs no query."""

from __future__ import annotations

import hashlib

from aiohttp import web


def tag(*parts: object) -> str:
    """A strong ETag naming `parts` (the resolved query and the marks it was read at)."""
    return '"' + hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest() + '"'


def matches(request: web.Request, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` (or is `*`): the client holds the current answer."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    candidates = {c.strip().removeprefix("W/") for c in header.split(",")}
    return "*" in candidates or etag in candidates


def not_modified(etag: str) -> web.Response:
    """304 with no body (RFC 9110 15.4.5: the ETag the 200 would have carried)."""
    return web.Response(status=304, headers={"ETag": etag})
