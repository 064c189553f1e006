"""The receivers' HTTP client for `POST /api/v1/batches`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from protocol.settings import Settings
from protocol.web_tls import client_ssl_context


class WebNodeUnavailable(Exception):
    """The web node did not answer, or answered 5xx: retry later, ack nothing."""


@dataclass(frozen=True)
class PostResult:
    status: int
    stored: int = 0
    duplicates: int = 0
    error: str = ""
    current_epoch: int | None = None
    items: list[dict] = field(default_factory=list)


def open_session(settings: Settings) -> aiohttp.ClientSession:
    """The worker's HTTP session to the web node (one per worker, closed with it): an `https://`
    WEB_NODE_URL is verified against WEB_NODE_CA_FILE (the system's trust store if unset)."""
    context = client_ssl_context(settings)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context if context is not None else True))


class WebNodeClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession, *, timeout_s: float = 30.0) -> None:
        self._url = base_url.rstrip("/") + "/api/v1/batches"
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def post(self, token: str, raws: Sequence[bytes]) -> PostResult:
        """Send already-validated JSON readings as one batch (joined, not re-encoded)."""
        body = b'{"readings":[' + b",".join(raws) + b"]}"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            async with self._session.post(self._url, data=body, headers=headers, timeout=self._timeout) as resp:
                text = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WebNodeUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if status >= 500:
            raise WebNodeUnavailable(f"web node answered {status}")
        data = _json_object(text)
        return PostResult(
            status=status,
            stored=int(data.get("stored", 0)),
            duplicates=int(data.get("duplicates", 0)),
            error=str(data.get("error", "")),
            current_epoch=data.get("current_epoch"),
            items=list(data.get("items", [])),
        )


def _json_object(text: bytes) -> dict:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
