"""The coordinator: on the leader worker, decides who holds the token next round the ring.

It talks one way. The token side (stream_app/token_side.py) tells it what the token topic says
(`observe`) and whether Kafka took a grant (`not_delivered`); the coordinator hands back its
decisions from `run` — a signed grant to send, or a request to read the topic to its end first —
and never calls into the token side.

Epochs only go up, across leader changes too: every worker sees every grant on the token topic
(and a new coordinator rewinds it on start), and the web node's 409 tells a release the epoch it
has fenced at; the next grant is always above the highest of all of these. Only signed messages
reach it (stream_app/token_channel.py), so no Kafka client without the key can move an epoch.

A coordinator that was away longer than a grant's lifetime (its process frozen, or starved of
CPU) may have been replaced meanwhile: before it grants again it asks for the token topic to be
read up to its current end (`CatchUp`), so its next epoch is above whatever a new leader granted
in between.

Two things keep the ring quick, since a round trip through Kafka per turn would cost more than
most turns write: a grant for one of this worker's own receivers is handed to it in-process
while it is also written to the token topic, and one of this worker's own receivers with nothing
buffered is passed over without a grant. Mutual exclusion does not rest on either: the web node
fences every batch on its grant's epoch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from protocol.grants import DEFAULT_APP_ID, Grant
from protocol.keyring import Keyring
from protocol.token_messages import INT64_MAX, GrantMessage, Presence, Release, TokenMessage
from stream_app.ring import Ring

log = logging.getLogger(__name__)

RELEASE_GRACE_S = 0.5
IDLE_PAUSE_MAX_S = 0.2
PUBLISH_RETRY_S = 0.5


class NotDelivered(Exception):
    """The token topic would not take a grant (Kafka unavailable): nobody holds the token."""


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Read the token topic up to its current end, then ask for the next decision."""


class LocalReceivers(Protocol):
    """What the coordinator reads of this worker's own receivers (stream_app/receiver_side.py)."""

    def owns(self, partition: int) -> bool: ...
    def pending(self, partition: int) -> int: ...


@dataclass(frozen=True, slots=True)
class CoordinatorStatus:
    heartbeat: float  # time.monotonic() when the loop last went round
    highest_epoch: int
    grants_issued: int
    expired_turns: int
    skipped_turns: int
    resyncs: int


class Coordinator:
    def __init__(
        self,
        *,
        is_leader: Callable[[], bool],
        keyring: Keyring,
        ttl_s: float,
        app: str = DEFAULT_APP_ID,
        ring: Ring | None = None,
    ):
        self._is_leader = is_leader
        self._keyring = keyring
        self.app = app  # TELERING_APP_ID: every grant names its deployment
        self.ttl_s = ttl_s
        self.ring = ring or Ring()
        self.highest_epoch = 0
        self.resyncs = 0
        self._last_holder: int | None = None
        self._awaiting: tuple[int, asyncio.Future[Release]] | None = None
        self._refused: int | None = None  # the epoch of the latest grant Kafka would not take
        self._membership = asyncio.Event()
        self._rebalanced = asyncio.Event()
        self._wake = asyncio.Event()
        self.grants_issued = 0
        self.expired_turns = 0
        self.skipped_turns = 0
        self.heartbeat = time.monotonic()  # the loop is alive

    def status(self) -> CoordinatorStatus:
        return CoordinatorStatus(
            self.heartbeat,
            self.highest_epoch,
            self.grants_issued,
            self.expired_turns,
            self.skipped_turns,
            self.resyncs,
        )

    # -- what the token side tells us -------------------------------------------------------
    def observe(self, message: TokenMessage, seen_at: float) -> None:
        """A message of the token topic (or this worker's own release, handed over in-process)."""
        if isinstance(message, GrantMessage):
            self.observe_grant(message)
        elif isinstance(message, Release):
            self.observe_release(message)
        elif isinstance(message, Presence):
            self.observe_presence(message, seen_at)

    def observe_grant(self, message: GrantMessage) -> None:
        self.highest_epoch = max(self.highest_epoch, message.epoch)

    def observe_release(self, release: Release) -> None:
        if release.superseded_by is not None:
            self.highest_epoch = max(self.highest_epoch, release.superseded_by)
        if self._awaiting and self._awaiting[0] == release.epoch and not self._awaiting[1].done():
            self._awaiting[1].set_result(release)

    def observe_presence(self, presence: Presence, seen_at: float) -> None:
        self.ring.saw(presence.worker, presence.partitions, seen_at)
        self._membership.set()

    def not_delivered(self, grant: GrantMessage) -> None:
        """Kafka would not take `grant`: nobody holds it, and the same receiver is granted again."""
        self._refused = grant.epoch

    def on_rebalance(self) -> None:
        """Leadership may have moved."""
        self._rebalanced.set()

    def wake(self) -> None:
        """Something may want a turn (readings arrived): end an idle pause now."""
        self._wake.set()

    # -- the decisions ----------------------------------------------------------------------
    async def run(self, local: LocalReceivers) -> AsyncIterator[GrantMessage | CatchUp]:
        """Round the ring for as long as the worker runs: each grant to send, each catch-up to do.

        The caller acts on a decision before asking for the next one: it sends a grant (and
        reports `not_delivered` if Kafka refused it), or reads the token topic to its end."""
        idle_pause, empty_turns = 0.0, 0
        while True:
            if time.monotonic() - self.heartbeat > self.ttl_s:
                # away longer than a grant lives (frozen, starved): another leader may have granted since
                self.resyncs += 1
                yield CatchUp()
            self.heartbeat = time.monotonic()
            if not self._is_leader():
                self._rebalanced.clear()
                await _wait(self._rebalanced, 1.0)
                continue
            now = time.time()
            holder = self.ring.next_after(self._last_holder, now)
            if holder is None:
                self._membership.clear()
                await _wait(self._membership, 1.0)
                continue
            previous, self._last_holder = self._last_holder, holder
            if local.owns(holder) and local.pending(holder) == 0:  # ours and empty: no grant needed
                self.skipped_turns += 1
                empty_turns += 1
            else:
                grant = self.grant(holder)
                yield grant
                try:
                    release = await self.release_of(grant)
                except NotDelivered:  # Kafka refused the grant: back off, and grant the same receiver again
                    self._last_holder = previous
                    await asyncio.sleep(PUBLISH_RETRY_S)
                    continue
                if release is not None and release.stored == 0 and release.duplicates == 0:
                    empty_turns += 1
                else:
                    empty_turns, idle_pause = 0, 0.0
            if empty_turns >= len(self.ring.members(now)):
                # a whole round found nothing to write: pace the ring instead of spinning it
                idle_pause = min(IDLE_PAUSE_MAX_S, max(0.01, idle_pause * 2))
                empty_turns = 0
                self._wake.clear()
                await _wait(self._wake, idle_pause)

    def grant(self, receiver: int) -> GrantMessage:
        """A signed grant of one turn for `receiver`, under the next epoch; its release is awaited."""
        if self.highest_epoch >= INT64_MAX:
            raise RuntimeError(f"epoch {self.highest_epoch} cannot grow: the token topic's history is corrupt")
        self.highest_epoch += 1
        grant = Grant(receiver=receiver, epoch=self.highest_epoch, expires_at=time.time() + self.ttl_s, app=self.app)
        self._awaiting = (grant.epoch, asyncio.get_running_loop().create_future())
        return GrantMessage(
            receiver=receiver, epoch=grant.epoch, expires_at=grant.expires_at, token=self._keyring.sign(grant)
        )

    async def release_of(self, grant: GrantMessage) -> Release | None:
        """The release of `grant`, or None when none came before expiry (the ring moves on).

        Raises NotDelivered if the token side reported that Kafka refused the grant."""
        assert self._awaiting is not None and self._awaiting[0] == grant.epoch, "release_of() follows grant()"
        future = self._awaiting[1]
        try:
            if self._refused == grant.epoch:
                raise NotDelivered(f"grant for receiver {grant.receiver} epoch {grant.epoch}")
            self.grants_issued += 1
            return await asyncio.wait_for(future, timeout=self.ttl_s + RELEASE_GRACE_S)
        except TimeoutError:
            self.expired_turns += 1
            log.warning("receiver %d did not release epoch %d before expiry; moving on", grant.receiver, grant.epoch)
            return None
        finally:
            self._awaiting = None


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        pass
