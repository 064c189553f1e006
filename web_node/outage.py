"""A database that cannot be used right now: 503 `storage_unavailable`, logged without a flood.

Every route that touches the database answers a driver failure (connection refused, server
gone, disk full, database locked, pool exhausted) with 503 `{"error": "storage_unavailable"}`
and `Retry-After`, never a 500: the worker retries a 503 within its grant (stream_app/turns.py)
and nothing it sent is settled, so nothing is lost; the insert is idempotent, so nothing doubles.
Each failed request logs one line; only the first failure of an outage logs its traceback, and
the first success after it says how long the outage lasted and how many requests it refused.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from web_node.appkeys import storage_outage_key
from web_node.errors import ApiError, Handler
from web_node.storage_errors import StorageError, describe, storage_errors

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1


class StorageOutage:
    """Whether the database is failing, per path ("write", "read"), and the log lines that go with it."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    @property
    def failing(self) -> bool:
        return bool(self._since)

    def failed(self, path: str, request: web.Request, exc: BaseException) -> ApiError:
        """Log the failure (a traceback only if it starts an outage); the 503 to raise."""
        why = describe(exc)
        if path not in self._since:
            self._since[path] = time.monotonic()
            self._failures[path] = 0
            log.error("storage unavailable (%s): %s %s: %s", path, request.method, request.path, why, exc_info=exc)
        else:
            log.warning("storage still unavailable (%s): %s %s: %s", path, request.method, request.path, why)
        self._failures[path] += 1
        return storage_unavailable(f"the database cannot {'store' if path == 'write' else 'be read'} right now ({why})")

    def succeeded(self, path: str) -> None:
        since = self._since.pop(path, None)
        if since is not None:
            log.warning(
                "storage available again (%s) after %.1f s; %d request(s) answered 503 meanwhile",
                path,
                time.monotonic() - since,
                self._failures.pop(path, 0),
            )


def storage_unavailable(detail: str) -> ApiError:
    error = ApiError(503, "storage_unavailable", f"{detail}; retry after {RETRY_AFTER_S} s")
    error.headers["Retry-After"] = str(RETRY_AFTER_S)
    return error


@web.middleware
async def storage_outages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A storage error that a view did not answer itself is a 503 too, not a 500."""
    path = "read" if request.method in ("GET", "HEAD") else "write"
    try:
        # not OSError: around a whole request, a client's dropped connection is one too
        with storage_errors(path, connecting=False):
            return await handler(request)
    except StorageError as exc:
        raise request.app[storage_outage_key].failed(path, request, exc) from None
