"""Async client of the web node's read API and live WebSocket (docs/API.md); no Qt here."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

import aiohttp

from desktop_client.alert_records import (
    Alert,
    AlertRule,
    Transition,
    parse_alerts,
    parse_history,
    parse_rules,
    parse_transition,
)
from desktop_client.options import HistoryPlan
from desktop_client.records import (
    Block,
    Sample,
    SensorInfo,
    WireError,
    parse_page,
    parse_sample,
    parse_sensors,
    parse_stats,
)
from protocol.bodies import SENSORS_LIMIT_MAX

log = logging.getLogger(__name__)

PAGE_LIMIT = 1000
CONCURRENT_REQUESTS = 4
REVALIDATED_ANSWERS = 256  # answers kept with their ETag, to ask again with If-None-Match
LIVE_HEARTBEAT_S = 15.0

_Record = TypeVar("_Record")


class WebNodeError(Exception):
    """The web node answered with an error status; `code` is its machine-readable error."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"HTTP {status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


class AlertingOff(Exception):
    """The web node serves no alerts: its alert routes answer 404 (no rules file configured)."""


class ApiClient:
    """Typed calls to one web node; the caller owns the aiohttp session (and its loop)."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        # a reader token, on every request and the live handshake (web nodes off loopback need one)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        # (path, query) -> (ETag, body): a refresh of an unchanged answer is a 304 with no body
        self._answers: OrderedDict[tuple[str, str], tuple[str, dict]] = OrderedDict()
        self.not_modified = 0  # refreshes answered 304

    async def sensors(self, page_limit: int = SENSORS_LIMIT_MAX) -> list[SensorInfo]:
        """Every sensor, following `next_after` from page to page."""
        found: list[SensorInfo] = []
        after: str | None = None
        while True:
            params = {"limit": str(page_limit), **({"after": after} if after is not None else {})}
            page, next_after = parse_sensors(await self._get("/api/v1/sensors", params))
            found.extend(page)
            if next_after is None:
                return found
            if after is not None and next_after <= after:
                raise WireError(f"/sensors: next_after {next_after!r} does not move past {after!r}")
            after = next_after

    async def readings(
        self, sensor_id: str, since: float, until: float | None = None, limit: int = PAGE_LIMIT
    ) -> tuple[list[Sample], float | None]:
        """One page, newest first, and the `until` of the next (older) page or None."""
        params = {"since": _unix(since), "limit": str(limit)}
        if until is not None:
            params["until"] = _unix(until)
        try:
            body = await self._get(f"/api/v1/sensors/{sensor_id}/readings", params)
        except WebNodeError as exc:
            if exc.code == "unknown_sensor":
                return [], None
            raise
        samples, next_until = parse_page(body)
        return samples, (next_until if len(samples) == limit else None)

    async def raw_history(self, sensor_id: str, since: float, until: float, max_points: int) -> Block:
        """Readings of one sensor in [since, until), following pages up to `max_points`."""
        collected: list[Sample] = []
        page_until: float | None = until
        while page_until is not None and len(collected) < max_points:
            page, page_until = await self.readings(
                sensor_id, since, page_until, min(PAGE_LIMIT, max_points - len(collected))
            )
            collected.extend(page)
        return Block.from_samples(sensor_id, collected)

    async def stats(self, since: float, until: float, bucket_s: int, sensors: Sequence[str]) -> list[Block]:
        params = [("since", _unix(since)), ("until", _unix(until)), ("bucket", str(bucket_s))]
        params += [("sensor", s) for s in sensors]
        return parse_stats(await self._get("/api/v1/stats", params))

    async def history(self, plan: HistoryPlan, sensors: Sequence[str], now: float, max_points: int) -> list[Block]:
        """The window ending `now` for these sensors: raw readings or stats buckets per `plan`."""
        since = now - plan.window_s
        gate = asyncio.Semaphore(CONCURRENT_REQUESTS)

        async def gated(coro):  # type: ignore[no-untyped-def]
            async with gate:
                return await coro

        if plan.raw:
            calls = [gated(self.raw_history(s, since, now, max_points)) for s in sensors]
            return list(await asyncio.gather(*calls))
        step = plan.sensors_per_stats_request()
        chunks = [sensors[i : i + step] for i in range(0, len(sensors), step)]
        answers = await asyncio.gather(*(gated(self.stats(since, now, plan.bucket_s, c)) for c in chunks))
        return [block for answer in answers for block in answer]

    @asynccontextmanager
    async def live(self, sensors: Sequence[str] | None = None) -> AsyncIterator[AsyncIterator[Sample]]:
        """Open /api/v1/live; yields an iterator of readings that ends when the socket closes."""
        params = [("sensor", s) for s in sensors or ()]
        async with self._socket("/api/v1/live", params) as ws:
            yield _messages(ws, parse_sample)

    # -- alerts (a web node without a rules file answers 404 on all of these: AlertingOff) ---
    async def alert_rules(self) -> list[AlertRule]:
        return parse_rules(await self._alerts_get("/api/v1/alerts/rules"))

    async def alerts(self) -> list[Alert]:
        """Every (rule, sensor) pending or firing now."""
        return parse_alerts(await self._alerts_get("/api/v1/alerts"))

    async def alert_history(self, since: float, max_items: int) -> list[Transition]:
        """The transitions since `since` (the newest `max_items` of them), oldest first."""
        found: list[Transition] = []
        page_until: float | None = None  # the first page: up to the newest, whatever the clocks say
        while len(found) < max_items:
            limit = min(PAGE_LIMIT, max_items - len(found))
            params = {"since": _unix(since), "limit": str(limit)}
            if page_until is not None:
                params["until"] = _unix(page_until)
            page, next_until = parse_history(await self._alerts_get("/api/v1/alerts/history", params))
            found.extend(page)
            if len(page) < limit or next_until is None:
                break
            if page_until is not None and next_until >= page_until:
                raise WireError(f"/alerts/history: next_until {next_until} does not move before {page_until}")
            page_until = next_until
        return sorted(found, key=lambda t: t.ts)

    @asynccontextmanager
    async def alert_transitions(self) -> AsyncIterator[AsyncIterator[Transition]]:
        """Open /api/v1/alerts/live; yields an iterator of transitions that ends when the socket closes."""
        try:
            async with self._socket("/api/v1/alerts/live") as ws:
                yield _messages(ws, parse_transition)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 404:
                raise AlertingOff(str(exc)) from exc
            raise

    async def _alerts_get(self, path: str, params: object = None) -> dict:
        try:
            return await self._get(path, params)
        except WebNodeError as exc:
            if exc.status == 404:
                raise AlertingOff(str(exc)) from exc
            raise

    @asynccontextmanager
    async def _socket(self, path: str, params: object = None) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        async with self._session.ws_connect(
            f"{self.base_url}{path}",
            params=params,
            headers=self._headers,
            heartbeat=LIVE_HEARTBEAT_S,
            autoping=True,
            timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
        ) as ws:
            yield ws

    async def _get(self, path: str, params: object = None) -> dict:
        key = (path, repr(params))
        known = self._answers.get(key)
        headers = {**self._headers, "If-None-Match": known[0]} if known else self._headers
        async with self._session.get(f"{self.base_url}{path}", params=params, headers=headers) as resp:
            if resp.status == 304 and known is not None:
                self._answers.move_to_end(key)
                self.not_modified += 1
                return known[1]
            try:
                body = await resp.json(content_type=None)
            except (json.JSONDecodeError, aiohttp.ContentTypeError) as exc:
                raise WebNodeError(resp.status, "bad_answer", f"{path}: not JSON") from exc
            if resp.status >= 400:
                error = body if isinstance(body, dict) else {}
                raise WebNodeError(resp.status, str(error.get("error", "http_error")), str(error.get("detail", "")))
            if not isinstance(body, dict):
                raise WebNodeError(resp.status, "bad_answer", f"{path}: expected a JSON object")
            self._remember(key, resp.headers.get("ETag"), body)
            return body

    def _remember(self, key: tuple[str, str], etag: str | None, body: dict) -> None:
        if etag is None:
            self._answers.pop(key, None)
            return
        self._answers[key] = (etag, body)
        self._answers.move_to_end(key)
        while len(self._answers) > REVALIDATED_ANSWERS:
            self._answers.popitem(last=False)


async def _messages(ws: aiohttp.ClientWebSocketResponse, parse: Callable[[str], _Record]) -> AsyncIterator[_Record]:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            continue
        try:
            yield parse(msg.data)
        except WireError as exc:
            log.warning("skipping a live message the client cannot read: %s", exc)
    log.info("live socket closed (code %s)", ws.close_code)


def _unix(t: float) -> str:
    return f"{t:.6f}"
