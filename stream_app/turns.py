"""One receiver's turn with the token: post its buffer in chunks, ack what was stored, release.

The ack order is the delivery guarantee: an event is acked only after the web node answered
200 for the chunk that carried it, so a crash at any point replays instead of dropping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from protocol.token import GrantMessage, Release
from stream_app.buffers import Pending, ReceiverBuffers
from stream_app.web_client import WebNodeClient, WebNodeUnavailable

log = logging.getLogger(__name__)

DeadLetterFn = Callable[[int, Sequence[tuple[Pending, str]]], Awaitable[None]]
AckFn = Callable[[Sequence[Pending]], None]

# Stop starting new chunks this close to expiry: the web node would refuse them anyway.
EXPIRY_MARGIN_S = 0.2


@dataclass
class TurnStats:
    stored: int = 0
    duplicates: int = 0
    superseded_by: int | None = None


class TurnRunner:
    def __init__(
        self,
        buffers: ReceiverBuffers,
        client: WebNodeClient,
        *,
        chunk_size: int,
        worker: str,
        ack: AckFn,
        dead_letter: DeadLetterFn,
        max_backoff_s: float = 2.0,
    ) -> None:
        self._buffers = buffers
        self._client = client
        self._chunk_size = chunk_size
        self._worker = worker
        self._ack = ack
        self._dead_letter = dead_letter
        self._max_backoff_s = max_backoff_s

    async def run(self, grant: GrantMessage) -> Release:
        """Flush what was buffered when the turn began, within the grant's lifetime."""
        stats = TurnStats()
        budget = self._buffers.size(grant.receiver)
        backoff = 0.05
        while budget > 0 and grant.expires_at - time.time() > EXPIRY_MARGIN_S:
            chunk = self._buffers.peek(grant.receiver, min(self._chunk_size, budget))
            if not chunk:
                break
            try:
                result = await self._client.post(grant.token, [p.raw for p in chunk])
            except WebNodeUnavailable as exc:
                log.warning("receiver %d: web node unavailable (%s); retrying in %.2fs", grant.receiver, exc, backoff)
                await asyncio.sleep(min(backoff, max(0.0, grant.expires_at - time.time())))
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            backoff = 0.05
            if result.status == 200:
                self._buffers.pop(grant.receiver, chunk)
                self._ack(chunk)
                stats.stored += result.stored
                stats.duplicates += result.duplicates
                budget -= len(chunk)
            elif result.status == 422 and (bad := await self._dead_letter_items(grant.receiver, chunk, result.items)):
                budget -= bad
            else:
                if result.status == 409:
                    stats.superseded_by = result.current_epoch
                log.warning(
                    "receiver %d epoch %d: web node refused the batch (%d %s); ending the turn",
                    grant.receiver,
                    grant.epoch,
                    result.status,
                    result.error,
                )
                break
        return Release(
            receiver=grant.receiver,
            epoch=grant.epoch,
            stored=stats.stored,
            duplicates=stats.duplicates,
            superseded_by=stats.superseded_by,
            worker=self._worker,
        )

    async def _dead_letter_items(self, receiver: int, chunk: list[Pending], items: list[dict]) -> int:
        """The web node rejected some items our validation let through (clock skew on `ts`, say)."""
        bad = []
        for item in items:
            index = item.get("index")
            if isinstance(index, int) and 0 <= index < len(chunk):
                reason = "; ".join(f"{e.get('field')}: {e.get('msg')}" for e in item.get("errors", []))
                bad.append((chunk[index], f"refused by web node: {reason}"))
        if not bad:
            return 0
        await self._dead_letter(receiver, bad)
        self._buffers.remove(receiver, [p for p, _ in bad])
        self._ack([p for p, _ in bad])
        return len(bad)
