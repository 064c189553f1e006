"""Entity tags of read answers: computed from the change marks (web_node/read/stats_cache.py) and
the request, never by rendering the answer, so a revalidation that matches costs no query, and a
tag seen before is answered with the body rendered then (`Answers`)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

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


class Answers:
    """Rendered answers by ETag, the least recently used dropped first. A tag names the resolved
    query and the change marks it was read at, so two answers of one tag are the same document:
    what makes a 304 right makes answering another client with the stored body right (a dozen
    dashboards asking the same window share one rendering until a write changes it)."""

    def __init__(self, max_bytes: int) -> None:
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._bytes, self._max_bytes = 0, max_bytes

    def get(self, etag: str) -> bytes | None:
        body = self._bodies.get(etag)
        if body is not None:
            self._bodies.move_to_end(etag)
        return body

    def put(self, etag: str, body: bytes) -> None:
        if etag in self._bodies or len(body) > self._max_bytes // 8:  # one answer never fills it
            return
        self._bodies[etag] = body
        self._bytes += len(body)
        while self._bytes > self._max_bytes:
            self._bytes -= len(self._bodies.popitem(last=False)[1])
