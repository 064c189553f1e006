"""One receiver's turn with the token: post its buffer in chunks, settle what was answered, release.

The settle order is the delivery guarantee: a reading leaves the buffer (and its offset may be
committed) only after the web node answered 200 for the chunk that carried it, or after it was
dead-lettered, so a crash at any point replays instead of dropping. Every answer makes progress:
  200                     stored: the chunk leaves the buffer
  422 with items          those items are dead-lettered with the web node's reason; the rest goes again
  400/413/415/422 (chunk) the chunk is split in halves (a single reading is dead-lettered)
  401/403/409             the grant is no good: the turn ends (a 409 relays the fencing epoch)
  anything else           not now (network, 5xx): retried with back-off while the grant lasts
so no reading can block the head of its partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from protocol.token_messages import GrantMessage, Release
from stream_app.buffers import Pending
from stream_app.web_client import PostResult, WebNodeClient, WebNodeUnavailable

log = logging.getLogger(__name__)

# Stop starting new chunks this close to expiry: the web node would refuse them anyway.
EXPIRY_MARGIN_S = 0.2
GRANT_REFUSALS = frozenset({401, 403, 409})
CHUNK_REFUSALS = frozenset({400, 413, 415, 422})


class Receivers(Protocol):
    """What a turn needs of the receiver side (stream_app/receiver_side.py)."""

    def pending(self, partition: int) -> int: ...
    def chunk(self, partition: int, max_readings: int, max_bytes: int) -> list[Pending]: ...
    def stored(self, partition: int, chunk: Sequence[Pending]) -> None: ...
    async def dead_letter(self, partition: int, refused: Sequence[tuple[Pending, str]]) -> None: ...


@dataclass
class _Turn:
    grant: GrantMessage
    stored: int = 0
    duplicates: int = 0
    superseded_by: int | None = None
    ended: bool = False  # the grant was refused or ran out

    @property
    def receiver(self) -> int:
        return self.grant.receiver

    def time_left(self) -> float:
        return self.grant.expires_at - time.time()


class TurnRunner:
    def __init__(
        self,
        receivers: Receivers,
        client: WebNodeClient,
        *,
        chunk_size: int,
        max_body_bytes: int,
        worker: str,
        max_backoff_s: float = 2.0,
    ) -> None:
        self._receivers = receivers
        self._client = client
        self._chunk_size = chunk_size
        self._max_body_bytes = max_body_bytes
        self._worker = worker
        self._max_backoff_s = max_backoff_s
        self.answers: Counter[tuple[str, str]] = Counter()  # (status, error code) of each answer: metrics
        self.turns = 0

    async def run(self, grant: GrantMessage) -> Release:
        """Flush what was buffered when the turn began, within the grant's lifetime."""
        self.turns += 1
        turn = _Turn(grant)
        budget = self._receivers.pending(grant.receiver)
        while budget > 0 and not turn.ended and turn.time_left() > EXPIRY_MARGIN_S:
            chunk = self._receivers.chunk(grant.receiver, min(self._chunk_size, budget), self._max_body_bytes)
            if not chunk:
                break
            await self._settle(turn, chunk)
            budget -= len(chunk)
        return Release(
            receiver=grant.receiver,
            epoch=grant.epoch,
            stored=turn.stored,
            duplicates=turn.duplicates,
            superseded_by=turn.superseded_by,
            worker=self._worker,
        )

    async def _settle(self, turn: _Turn, chunk: list[Pending]) -> None:
        """Post `chunk` until the web node answers decisively, then act on the answer (see module doc)."""
        result = await self._post(turn, chunk)
        if result is None:
            return
        self.answers[(str(result.status), result.error)] += 1
        if result.status == 200:
            self._receivers.stored(turn.receiver, chunk)
            turn.stored += result.stored
            turn.duplicates += result.duplicates
        elif result.status in GRANT_REFUSALS:
            turn.ended = True
            if result.status == 409:
                turn.superseded_by = result.current_epoch
            log.warning(
                "receiver %d epoch %d: web node refused the grant (%d %s); ending the turn",
                turn.receiver,
                turn.grant.epoch,
                result.status,
                result.error,
            )
        elif result.status == 422 and (refused := _refused_items(chunk, result.items)):
            await self._receivers.dead_letter(turn.receiver, refused)
            doomed = {id(p) for p, _ in refused}
            rest = [p for p in chunk if id(p) not in doomed]
            if rest and not turn.ended:
                await self._settle(turn, rest)
        elif result.status in CHUNK_REFUSALS:
            await self._split(turn, chunk, result)

    async def _split(self, turn: _Turn, chunk: list[Pending], result: PostResult) -> None:
        """A refusal of the chunk as a whole: halve it until the refused reading stands alone."""
        if len(chunk) == 1:
            why = f"{result.status} {result.error or 'refused'}: {result.detail}".strip()
            log.warning("receiver %d: dead-lettering offset %d (%s)", turn.receiver, chunk[0].offset, why)
            await self._receivers.dead_letter(turn.receiver, [(chunk[0], why)])
            return
        middle = len(chunk) // 2
        for half in (chunk[:middle], chunk[middle:]):
            if turn.ended or turn.time_left() <= EXPIRY_MARGIN_S:
                return
            await self._settle(turn, half)

    async def _post(self, turn: _Turn, chunk: list[Pending]) -> PostResult | None:
        """The web node's decisive answer, retrying the rest while the grant lasts; None if it ran out."""
        backoff = 0.05
        while turn.time_left() > EXPIRY_MARGIN_S:
            try:
                return await self._client.post(turn.grant.token, turn.receiver, [p.raw for p in chunk])
            except WebNodeUnavailable as exc:
                self.answers[("unavailable", "")] += 1
                log.warning("receiver %d: web node unavailable (%s); retrying in %.2fs", turn.receiver, exc, backoff)
                await asyncio.sleep(min(backoff, max(0.0, turn.time_left())))
                backoff = min(backoff * 2, self._max_backoff_s)
        turn.ended = True
        return None


def _refused_items(chunk: list[Pending], items: list[dict]) -> list[tuple[Pending, str]]:
    """The chunk's readings a 422 names, with the web node's reasons (items it cannot name are ignored)."""
    refused: dict[int, str] = {}
    for item in items:
        index = item.get("index")
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(chunk):
            errors = item.get("errors") if isinstance(item.get("errors"), list) else []
            refused[index] = (
                "; ".join(f"{e.get('field')}: {e.get('msg')}" for e in errors[:5] if isinstance(e, dict))
                or "invalid reading"
            )
    return [(chunk[i], why) for i, why in sorted(refused.items())]
