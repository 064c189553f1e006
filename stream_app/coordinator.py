"""The coordinator: on the leader worker, grants the token round the ring of live receivers.

Epochs only go up, across leader changes too: every worker sees every grant on the token topic
(and a new coordinator rewinds it on start), and the web node's 409 tells a release the epoch it
has fenced at; the next grant is always above the highest of all of these. Only signed messages
reach it (stream_app/token_channel.py), so no Kafka client without the key can move an epoch.

A coordinator that was away longer than a grant's lifetime (its process frozen, or starved of
CPU) may have been replaced meanwhile: before it grants again it reads the token topic up to its
current end (`resync`), so its next epoch is above whatever a new leader granted in between.

Two things keep the ring quick (issue 15): a grant for one of this worker's own receivers is
handed to it in-process while it is also written to the token topic, and one of this worker's
own receivers with nothing buffered is passed over without a grant. Mutual exclusion does not
rest on either: the web node fences every batch on its grant's epoch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from protocol.grants import Grant
from protocol.keyring import Keyring
from protocol.token_messages import INT64_MAX, GrantMessage, Presence, Release
from stream_app.ring import Ring

log = logging.getLogger(__name__)

RELEASE_GRACE_S = 0.5
IDLE_PAUSE_MAX_S = 0.2
PUBLISH_RETRY_S = 0.5


class NotDelivered(Exception):
    """The token topic would not take a grant (Kafka unavailable): nobody holds the token."""


class Coordinator:
    def __init__(
        self,
        *,
        deliver: Callable[[GrantMessage], Awaitable[bool]],
        is_leader: Callable[[], bool],
        keyring: Keyring,
        ttl_s: float,
        local_pending: Callable[[int], int | None] = lambda receiver: None,
        resync: Callable[[], Awaitable[None]] | None = None,
        ring: Ring | None = None,
    ) -> None:
        self._deliver = deliver  # write the grant to the topic (and start it here if ours); False: Kafka refused
        self._is_leader = is_leader
        self._keyring = keyring
        self._local_pending = local_pending  # readings buffered here for a receiver of ours, None if not ours
        self._resync = resync  # read the token topic up to its current end (None: nothing to catch up with)
        self.resyncs = 0
        self.ttl_s = ttl_s
        self.ring = ring or Ring()
        self.highest_epoch = 0
        self._last_holder: int | None = None
        self._awaiting: tuple[int, asyncio.Future[Release]] | None = None
        self._membership = asyncio.Event()
        self._rebalanced = asyncio.Event()
        self._wake = asyncio.Event()
        self.grants_issued = 0
        self.expired_turns = 0
        self.skipped_turns = 0
        self.heartbeat = time.monotonic()  # the loop is alive

    # -- what the token channel tells us ------------------------------------------------
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

    def on_rebalance(self) -> None:
        """Leadership may have moved."""
        self._rebalanced.set()

    def wake(self) -> None:
        """Something may want a turn (readings arrived): end an idle pause now."""
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------
    async def run(self, caught_up: asyncio.Event) -> None:
        await caught_up.wait()
        idle_pause, empty_turns = 0.0, 0
        while True:
            if self._resync is not None and time.monotonic() - self.heartbeat > self.ttl_s:
                # away longer than a grant lives (frozen, starved): another leader may have granted since
                self.resyncs += 1
                await self._resync()
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
            if self._local_pending(holder) == 0:  # ours and empty: no grant needed
                self.skipped_turns += 1
                empty_turns += 1
            else:
                try:
                    release = await self.grant_turn(holder)
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

    async def grant_turn(self, receiver: int) -> Release | None:
        """Grant `receiver` one turn; None when no release came before expiry (the ring moves on)."""
        if self.highest_epoch >= INT64_MAX:
            raise RuntimeError(f"epoch {self.highest_epoch} cannot grow: the token topic's history is corrupt")
        self.highest_epoch += 1
        grant = Grant(receiver=receiver, epoch=self.highest_epoch, expires_at=time.time() + self.ttl_s)
        message = GrantMessage(
            receiver=receiver, epoch=grant.epoch, expires_at=grant.expires_at, token=self._keyring.sign(grant)
        )
        future: asyncio.Future[Release] = asyncio.get_running_loop().create_future()
        self._awaiting = (grant.epoch, future)
        try:
            if not await self._deliver(message):
                raise NotDelivered(f"grant for receiver {receiver} epoch {grant.epoch}")
            self.grants_issued += 1
            return await asyncio.wait_for(future, timeout=self.ttl_s + RELEASE_GRACE_S)
        except TimeoutError:
            self.expired_turns += 1
            log.warning("receiver %d did not release epoch %d before expiry; moving on", receiver, grant.epoch)
            return None
        finally:
            self._awaiting = None


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        pass
