"""Reader tokens on the read API (DESIGN.md, Security on a network): an aiohttp middleware.

With WEB_NODE_READ_AUTH=required (the default whenever WEB_NODE_HOST is not a loopback
address) every request needs `Authorization: Bearer <reader token>` — the REST reads and the
`/api/v1/live` WebSocket handshake alike, and any route added later (deny by default) — except:

- `/healthz` and `/api/v1/openapi.json`: always open (liveness, and the public document); a
  reader token on `/healthz` is recognised, for its details;
- `/api/v1/batches`: authenticated by its grant instead (a reader token is no grant);
- `/metrics`: as WEB_NODE_METRICS_AUTH says (default: as reads).

A missing token is 401 `reader_token_missing`; a wrong, revoked or non-reader token (a grant)
is 401 `reader_token_invalid`. Tokens are checked against TELERING_READERS_FILE
(protocol.reader_tokens), which is followed as it changes.
"""

from __future__ import annotations

import logging

from aiohttp import web

from protocol.reader_tokens import Readers, ReadersError
from protocol.settings import Settings
from web_node.errors import ApiError, Handler

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
OPEN_PATHS = frozenset({HEALTH_PATH, "/api/v1/openapi.json"})
GRANT_PATHS = frozenset({"/api/v1/batches"})
METRICS_PATH = "/metrics"
CHALLENGE = 'Bearer realm="telering"'
reader_key = web.RequestKey("reader", str)  # the name of the reader a request was authenticated as

# how web_node/openapi.py documents it
READER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "reader token: tlr_ + 43 url-safe characters (`telering-keys reader new`)",
    "description": "A reader token from TELERING_READERS_FILE. Needed when WEB_NODE_READ_AUTH=required, the "
    "default whenever WEB_NODE_HOST is not a loopback address; /metrics follows WEB_NODE_METRICS_AUTH.",
}
READER_REFUSED = (
    "Reads need a reader token: none was sent (`reader_token_missing`), or it is unknown, revoked or not a "
    "reader token, e.g. a grant (`reader_token_invalid`)"
)


class ReadAuthUnavailable(RuntimeError):
    """Reads must be authenticated but the readers file cannot be read: a start-up error."""


def reader_auth(settings: Settings) -> Handler | None:
    """The middleware for these settings, or None when neither reads nor /metrics need a token."""
    reads, metrics = settings.read_auth_required, settings.metrics_auth_required
    if not reads and not metrics:
        log.warning("reads are open to anyone who reaches %s (WEB_NODE_READ_AUTH=off)", settings.web_node_host)
        return None
    readers = _load(settings)
    log.info(
        "reads need a reader token (%d reader(s) in %s); /metrics %s",
        len(readers),
        readers.path,
        "too" if metrics else "is open",
    )

    @web.middleware
    async def require_reader(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path == HEALTH_PATH:  # open, but its details are for readers (web_node/health.py)
            _, _, token = request.headers.get("Authorization", "").partition(" ")
            if token.strip() and (name := readers.identify(token.strip())) is not None:
                request[reader_key] = name
            return await handler(request)
        if path in OPEN_PATHS or path in GRANT_PATHS or (path == METRICS_PATH and not metrics):
            return await handler(request)
        if path != METRICS_PATH and not reads:
            return await handler(request)
        request[reader_key] = _reader(request, readers)
        return await handler(request)

    return require_reader


def _reader(request: web.Request, readers: Readers) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refused("reader_token_missing", "this route needs `Authorization: Bearer <reader token>`")
    name = readers.identify(token.strip())
    if name is None:
        raise _refused("reader_token_invalid", "the reader token is unknown or revoked (a grant is no reader token)")
    return name


def _refused(code: str, detail: str) -> ApiError:
    error = ApiError(401, code, detail)
    error.headers["WWW-Authenticate"] = CHALLENGE
    return error


def _load(settings: Settings) -> Readers:
    path = settings.telering_readers_file
    why = "WEB_NODE_READ_AUTH=required" if settings.web_node_read_auth else "the default off loopback"
    try:
        return Readers(path)
    except FileNotFoundError:
        raise ReadAuthUnavailable(
            f"reads need reader tokens ({why}) but TELERING_READERS_FILE={str(path)!r} does not exist; "
            f"create a reader with `telering-keys reader new --name NAME --file {path}`, or set WEB_NODE_READ_AUTH=off"
        ) from None
    except (OSError, ReadersError) as exc:
        raise ReadAuthUnavailable(f"TELERING_READERS_FILE={str(path)!r} cannot be used: {exc}") from None
