"""The coordinator: on the leader worker, grants the token round the ring of live receivers.

Epochs only go up, across leader changes too: every worker sees every grant on the token
topic (and a new coordinator rewinds it on start), and the web node's 409 tells a release
the epoch it has fenced at; the next grant is always above the highest of all of these.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from protocol.grants import Grant, GrantCodec
from protocol.keys import fingerprint
from protocol.token import GrantMessage, Presence, Release
from stream_app.ring import Ring

log = logging.getLogger(__name__)

RELEASE_GRACE_S = 0.5
IDLE_PAUSE_MAX_S = 0.2


class Coordinator:
    def __init__(
        self,
        *,
        publish: Callable[[GrantMessage], Awaitable[None]],
        is_leader: Callable[[], bool],
        keys: Callable[[], list[str]],
        ttl_s: float,
        ring: Ring | None = None,
    ) -> None:
        self._publish = publish
        self._is_leader = is_leader
        self._keys = keys
        self.ttl_s = ttl_s
        self.ring = ring or Ring()
        self.highest_epoch = 0
        self._last_holder: int | None = None
        self._awaiting: tuple[int, asyncio.Future[Release]] | None = None
        self._codec: GrantCodec | None = None
        self._codec_keys: list[str] = []
        self._membership = asyncio.Event()
        self._rebalanced = asyncio.Event()
        self.grants_issued = 0
        self.expired_turns = 0

    # -- what the token channel tells us ------------------------------------------------
    def observe_grant(self, message: GrantMessage) -> None:
        self.highest_epoch = max(self.highest_epoch, message.epoch)

    def observe_release(self, release: Release) -> None:
        if release.superseded_by is not None:
            self.highest_epoch = max(self.highest_epoch, release.superseded_by)
        if self._awaiting and self._awaiting[0] == release.epoch and not self._awaiting[1].done():
            self._awaiting[1].set_result(release)

    def observe_presence(self, presence: Presence) -> None:
        self.ring.saw(presence.worker, presence.partitions, presence.at)
        self._membership.set()

    def on_rebalance(self) -> None:
        """Leadership may have moved."""
        self._rebalanced.set()

    # -- the loop -------------------------------------------------------------------------
    async def run(self, caught_up: asyncio.Event) -> None:
        await caught_up.wait()
        idle_pause, empty_turns = 0.0, 0
        while True:
            if not self._is_leader():
                self._rebalanced.clear()
                await _wait(self._rebalanced, 1.0)
                continue
            holder = self.ring.next_after(self._last_holder, time.time())
            if holder is None:
                self._membership.clear()
                await _wait(self._membership, 1.0)
                continue
            release = await self.grant_turn(holder)
            self._last_holder = holder
            if release is not None and release.stored == 0 and release.duplicates == 0:
                empty_turns += 1
            else:
                empty_turns, idle_pause = 0, 0.0
            if empty_turns >= len(self.ring.members(time.time())):
                # a whole round found nothing to write: pace the ring instead of spinning it
                idle_pause = min(IDLE_PAUSE_MAX_S, max(0.01, idle_pause * 2))
                empty_turns = 0
                await asyncio.sleep(idle_pause)

    async def grant_turn(self, receiver: int) -> Release | None:
        """Grant `receiver` one turn; None when no release came before expiry (the ring moves on)."""
        self.highest_epoch += 1
        grant = Grant(receiver=receiver, epoch=self.highest_epoch, expires_at=time.time() + self.ttl_s)
        future: asyncio.Future[Release] = asyncio.get_running_loop().create_future()
        self._awaiting = (grant.epoch, future)
        try:
            await self._publish(GrantMessage(grant.receiver, grant.epoch, grant.expires_at, self._sign(grant)))
            self.grants_issued += 1
            return await asyncio.wait_for(future, timeout=self.ttl_s + RELEASE_GRACE_S)
        except TimeoutError:
            self.expired_turns += 1
            log.warning("receiver %d did not release epoch %d before expiry; moving on", receiver, grant.epoch)
            return None
        finally:
            self._awaiting = None

    def _sign(self, grant: Grant) -> str:
        keys = self._keys()
        if self._codec is None or keys != self._codec_keys:
            self._codec, self._codec_keys = GrantCodec(keys), list(keys)
            log.info("coordinator signs with key %s", fingerprint(keys[-1]))
        return self._codec.sign(grant)


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        pass
