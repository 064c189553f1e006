"""The token side's turns (stream_app/token_side.py) around a rebalance, with the receivers'
ownership set by hand: a rebalance revokes every partition before it assigns them again, and a
grant may arrive in between (seen in the paused-receiver fault scenario: the ring then waited
for the grant to expire)."""

from __future__ import annotations

import asyncio
import time

from protocol.keyring import Keyring
from protocol.settings import Settings
from protocol.token_messages import GrantMessage, Presence, Release
from stream_app.token_channel import TokenRecord
from stream_app.token_side import TokenSide

KEY = "k" * 43


class Receivers:
    """The receiver side as the token side sees it: which partitions this worker owns now."""

    def __init__(self) -> None:
        self.owned: set[int] = set()

    def owns(self, partition: int) -> bool:
        return partition in self.owned


class Worker:
    """A token side whose turns are recorded instead of run, and whose ownership changes the way
    its presence loop reports them."""

    def __init__(self) -> None:
        self.receivers = Receivers()
        self.tokens = TokenSide(
            Settings(TELERING_GRANT_KEYS=KEY), "token", Keyring([KEY]), self.receivers, worker_id="me", is_leader=bool
        )
        self.taken: list[tuple[int, int]] = []
        self.tokens._take_turn = self._turn

    async def _turn(self, grant: GrantMessage) -> None:
        self.taken.append((grant.epoch, grant.receiver))

    def owns(self, *partitions: int) -> None:
        self.receivers.owned = set(partitions)
        self.tokens._take_waiting_grant(partitions)  # what the presence loop does on each change

    def revoked(self, *partitions: int) -> None:
        """It owned `partitions` (and said so), then a rebalance revoked them."""
        self.owns(*partitions)
        self.sees(presence("me", *partitions))
        self.owns()

    def sees(self, message) -> None:
        self.tokens._dispatch(TokenRecord(offset=0, seen_at=time.time(), message=message))

    def started(self) -> set[int]:
        return set(self.tokens._turns)


def grant(receiver: int, epoch: int) -> GrantMessage:
    return GrantMessage(receiver=receiver, epoch=epoch, expires_at=time.time() + 30, token="x")


def presence(worker: str, *partitions: int) -> Presence:
    return Presence(worker=worker, partitions=partitions, at=time.time())


async def test_a_grant_that_came_between_revoke_and_assign_is_taken_once_the_receiver_is_back():
    worker = Worker()
    async with asyncio.TaskGroup() as group:
        worker.tokens._group = group
        worker.revoked(0, 1)  # the rebalance revokes ...
        worker.sees(grant(0, 202))  # ... a grant for one of them comes ...
        assert worker.started() == set()
        worker.owns(0, 1, 2, 3)  # ... and they are assigned again, with the dead worker's
        assert worker.started() == {0}
        worker.owns(0, 1, 2, 3)  # taken once
    assert worker.taken == [(202, 0)]


async def test_a_grant_for_a_receiver_that_was_another_workers_is_left_to_it():
    """That worker (paused, say) may hold the grant: taking it too would make two turns of one
    epoch, which the fence accepts from both. The ring waits for its release or expiry."""
    worker = Worker()
    async with asyncio.TaskGroup() as group:
        worker.tokens._group = group
        worker.sees(presence("other", 2, 3))
        worker.revoked(0, 1)
        worker.sees(grant(3, 201))
        worker.owns(0, 1, 2, 3)  # receiver 3 was the other worker's
        assert worker.started() == set()
    assert worker.taken == []


async def test_a_kept_grant_is_dropped_once_the_ring_has_moved_on():
    worker = Worker()
    async with asyncio.TaskGroup() as group:
        worker.tokens._group = group
        worker.revoked(0, 1)
        worker.sees(grant(0, 202))
        worker.sees(Release(receiver=0, epoch=202, stored=0))  # someone released it after all
        worker.sees(grant(1, 203))
        worker.sees(Release(receiver=1, epoch=203, stored=0))
        worker.owns(0, 1)
        assert worker.started() == set()
    assert worker.taken == []
