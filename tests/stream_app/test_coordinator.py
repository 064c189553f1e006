"""The coordinator's grants: ring order, monotonic epochs, moving on after expiry, skipping our
own empty receivers, and backing off when Kafka will not take a grant."""

from __future__ import annotations

import asyncio
import time

from protocol.grants import GrantCodec, max_lifetime_s
from protocol.keyring import Keyring
from protocol.token_messages import GrantMessage, Presence, Release
from stream_app.coordinator import CatchUp, Coordinator
from tests.support.waiting import async_eventually

K1, K2 = "1" * 43, "2" * 43


class Local:
    """This worker's receivers as the coordinator reads them: `pending` maps ours to their buffer size."""

    def __init__(self, pending: dict[int, int | None]) -> None:
        self._pending = pending

    def owns(self, partition: int) -> bool:
        return self._pending.get(partition) is not None

    def pending(self, partition: int) -> int:
        return self._pending[partition] or 0


def make(ttl_s: float = 5.0):
    coordinator = Coordinator(is_leader=lambda: True, keyring=Keyring([K1]), ttl_s=ttl_s)
    coordinator.observe(Presence(worker="w", partitions=(0, 1, 2), at=time.time()), seen_at=time.time())
    return coordinator, []


async def drive(coordinator, sent, local=None, accept=lambda message: True, catch_up=None):
    """What the token side does with the coordinator's decisions: send each grant Kafka accepts."""
    async for decision in coordinator.run(local or Local({})):
        if isinstance(decision, CatchUp):
            if catch_up is not None:
                await catch_up()
        elif accept(decision):
            sent.append(decision)
        else:
            coordinator.not_delivered(decision)


def running(coordinator, sent, **options):
    return asyncio.create_task(drive(coordinator, sent, **options))


async def released(coordinator, sent, receiver, stored=1, superseded_by=None):
    grant = coordinator.grant(receiver)
    sent.append(grant)
    task = asyncio.create_task(coordinator.release_of(grant))
    coordinator.observe_release(
        Release(receiver=receiver, epoch=grant.epoch, stored=stored, superseded_by=superseded_by)
    )
    return await task


async def test_grants_are_signed_and_epochs_increase():
    coordinator, sent = make()
    for receiver in (0, 1, 2):
        assert (await released(coordinator, sent, receiver)).receiver == receiver
    assert [m.epoch for m in sent] == [1, 2, 3]
    grant = GrantCodec([K1]).verify(sent[-1].token, max_lifetime_s=max_lifetime_s(5.0))  # within the web node's cap
    assert (grant.receiver, grant.epoch) == (2, 3)


async def test_expired_turn_moves_on_with_higher_epoch():
    coordinator, sent = make(ttl_s=0.05)
    assert await coordinator.release_of(coordinator.grant(0)) is None
    assert (await released(coordinator, sent, 1)).epoch == 2
    assert coordinator.expired_turns == 1


async def test_epoch_jumps_past_what_others_granted_and_what_the_web_node_fenced():
    coordinator, sent = make()
    coordinator.observe_grant(GrantMessage(receiver=0, epoch=40, expires_at=time.time(), token="x"))
    await released(coordinator, sent, 0, superseded_by=None)
    assert sent[-1].epoch == 41
    await released(coordinator, sent, 1, stored=0, superseded_by=100)
    await released(coordinator, sent, 2)
    assert sent[-1].epoch == 101


async def test_rotation_signs_with_the_newest_key(tmp_path):
    path = tmp_path / "telering.keys"
    path.write_text(K1 + "\n")
    path.chmod(0o600)  # a key file open to others is never taken up
    coordinator, sent = make()
    coordinator._keyring = Keyring([K1], path, check_interval_s=0.0)
    await released(coordinator, sent, 0)
    path.write_text(f"{K1}\n{K2}\n")
    await released(coordinator, sent, 1)
    GrantCodec([K2]).verify(sent[-1].token)


async def test_the_ring_passes_over_our_own_empty_receivers_without_a_grant():
    """Receiver 1 is ours and empty: no grant for it; 0 and 2 (not ours, or holding readings) get theirs."""
    pending = {0: None, 1: 0, 2: 5}
    coordinator, sent = make()
    loop = running(coordinator, sent, local=Local(pending))
    try:
        for turn in range(4):  # release whatever is granted, four turns' worth
            await async_eventually(lambda n=turn: len(sent) > n and coordinator._awaiting, timeout=5, interval=0.001)
            grant = sent[turn]
            coordinator.observe_release(Release(receiver=grant.receiver, epoch=grant.epoch, stored=1))
    finally:
        loop.cancel()
    assert [m.receiver for m in sent[:4]] == [0, 2, 0, 2] and coordinator.skipped_turns >= 1


async def test_a_grant_kafka_refused_is_granted_again_to_the_same_receiver():
    refusals = [True]  # refuse the first delivery only

    def accept(message):
        return not (refusals and refusals.pop())

    coordinator, sent = make()
    loop = running(coordinator, sent, accept=accept)
    try:
        await async_eventually(lambda: coordinator._awaiting and sent, timeout=10, interval=0.005)
    finally:
        loop.cancel()
    assert sent[0].receiver == 0 and sent[0].epoch == 2  # epoch 1 never reached the topic; 0 still goes first


async def test_a_coordinator_away_longer_than_a_grant_lives_catches_up_before_granting():
    """Frozen past the TTL, another leader granted meanwhile: the topic is read to its end first,
    so the next grant is above what the other granted, not below it."""
    coordinator, sent = make(ttl_s=0.5)

    async def resync():  # what the token topic held meanwhile: another leader's grant of epoch 500
        coordinator.observe_grant(GrantMessage(receiver=1, epoch=500, expires_at=time.time() + 5, token="x"))

    coordinator.heartbeat = time.monotonic() - 60  # as after a SIGSTOP of a minute
    loop = running(coordinator, sent, catch_up=resync)
    try:
        await async_eventually(lambda: sent, timeout=5, interval=0.001)
    finally:
        loop.cancel()
    assert coordinator.resyncs == 1 and sent[0].epoch == 501


async def test_a_coordinator_that_kept_up_does_not_resync():
    coordinator, sent = make(ttl_s=5.0)
    calls = []

    async def resync():
        calls.append(1)

    loop = running(coordinator, sent, catch_up=resync)
    try:
        await async_eventually(lambda: sent, timeout=5, interval=0.001)
    finally:
        loop.cancel()
    assert calls == [] and sent[0].epoch == 1
