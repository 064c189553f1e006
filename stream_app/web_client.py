"""The receivers' HTTP client for `POST /api/v1/batches`."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from protocol.settings import Settings, is_loopback
from protocol.web_tls import client_ssl_context

log = logging.getLogger(__name__)

# Answers that say something about the batch or the grant; anything else (5xx, 404 from a wrong
# WEB_NODE_URL, a proxy's 502) means "not now": retry, settle nothing.
DECISIVE = frozenset({200, 400, 401, 403, 409, 413, 415, 422})


class WebNodeUnavailable(Exception):
    """The web node did not answer decisively (network error, 5xx, ...): retry later, settle nothing."""


@dataclass(frozen=True)
class PostResult:
    status: int
    stored: int = 0
    duplicates: int = 0
    error: str = ""
    detail: str = ""
    current_epoch: int | None = None
    items: list[dict] = field(default_factory=list)


def open_session(settings: Settings) -> aiohttp.ClientSession:
    """The worker's HTTP session to the web node (one per worker, closed with it): an `https://`
    WEB_NODE_URL is verified against WEB_NODE_CA_FILE (the system's trust store if unset)."""
    url = URL(settings.web_node_url)
    if url.scheme == "http" and not is_loopback(url.host or ""):
        # each batch carries a grant: whoever watches the network can replay it until it expires
        log.warning(
            "WEB_NODE_URL=%s is plain HTTP off this machine: grants and readings cross the network in clear; "
            "use https:// (WEB_NODE_TLS_CERT on the web node, WEB_NODE_CA_FILE here)",
            settings.web_node_url,
        )
    context = client_ssl_context(settings)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context if context is not None else True))


class WebNodeClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession, *, timeout_s: float = 30.0) -> None:
        self._url = base_url.rstrip("/") + "/api/v1/batches"
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def post(self, token: str, receiver: int, raws: Sequence[bytes]) -> PostResult:
        """Send validated JSON readings of `receiver` as one batch (joined, not re-encoded)."""
        body = b'{"receiver":%d,"readings":[' % receiver + b",".join(raws) + b"]}"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            async with self._session.post(self._url, data=body, headers=headers, timeout=self._timeout) as resp:
                text = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WebNodeUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if status not in DECISIVE:
            raise WebNodeUnavailable(f"web node answered {status}")
        data = _json_object(text)
        epoch = data.get("current_epoch")
        items = data.get("items")
        return PostResult(
            status=status,
            stored=_count(data.get("stored")),
            duplicates=_count(data.get("duplicates")),
            error=str(data.get("error", ""))[:200],
            detail=str(data.get("detail", ""))[:500],
            current_epoch=epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
            items=[i for i in items if isinstance(i, dict)] if isinstance(items, list) else [],
        )


def _json_object(text: bytes) -> dict:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
