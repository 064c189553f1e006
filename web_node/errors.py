"""JSON errors: every failure is `{"error": code, "detail": text}` with the right status."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    500: "internal",
    503: "unavailable",
}


class ApiError(web.HTTPException):
    """An HTTP error with a JSON body; raise it from any view."""

    def __init__(self, status: int, code: str, detail: str, **extra: object) -> None:
        self.status_code = status
        self.code = code
        super().__init__(
            text=web.json_response({"error": code, "detail": detail, **extra}).text, content_type="application/json"
        )


def error_code(exc: web.HTTPException) -> str:
    """The machine-readable code an HTTP error is answered with."""
    return exc.code if isinstance(exc, ApiError) else _CODES.get(exc.status, "error")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's own HTTP errors and unexpected exceptions into JSON, never a trace."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = ApiError(exc.status, error_code(exc), exc.reason)
        if "Allow" in exc.headers:  # a 405 must say which methods are allowed (RFC 9110)
            error.headers["Allow"] = exc.headers["Allow"]
        raise error from None
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        raise ApiError(500, "internal", "internal error; see the web node's log") from None
