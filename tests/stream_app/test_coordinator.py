"""The coordinator's grants: ring order, monotonic epochs, moving on after expiry, skipping our
own empty receivers, and backing off when Kafka will not take a grant."""

from __future__ import annotations

import asyncio
import time

from protocol.grants import GrantCodec, max_lifetime_s
from protocol.keyring import Keyring
from protocol.token_messages import GrantMessage, Presence, Release
from stream_app.coordinator import Coordinator
from tests.support.waiting import async_eventually

K1, K2 = "1" * 43, "2" * 43


def make(ttl_s: float = 5.0, local_pending=lambda receiver: None, accept=lambda message: True):
    sent: list[GrantMessage] = []
    keyring = Keyring([K1])

    async def deliver(message: GrantMessage) -> bool:
        if not accept(message):
            return False
        sent.append(message)
        return True

    coordinator = Coordinator(
        deliver=deliver, is_leader=lambda: True, keyring=keyring, ttl_s=ttl_s, local_pending=local_pending
    )
    coordinator.observe_presence(Presence(worker="w", partitions=(0, 1, 2), at=time.time()), seen_at=time.time())
    return coordinator, sent, keyring


async def released(coordinator, receiver, stored=1, superseded_by=None):
    task = asyncio.create_task(coordinator.grant_turn(receiver))
    await async_eventually(lambda: coordinator._awaiting, timeout=5, interval=0.001)
    epoch = coordinator._awaiting[0]
    coordinator.observe_release(Release(receiver=receiver, epoch=epoch, stored=stored, superseded_by=superseded_by))
    return await task


async def test_grants_are_signed_and_epochs_increase():
    coordinator, sent, _ = make()
    for receiver in (0, 1, 2):
        assert (await released(coordinator, receiver)).receiver == receiver
    assert [m.epoch for m in sent] == [1, 2, 3]
    grant = GrantCodec([K1]).verify(sent[-1].token, max_lifetime_s=max_lifetime_s(5.0))  # within the web node's cap
    assert (grant.receiver, grant.epoch) == (2, 3)


async def test_expired_turn_moves_on_with_higher_epoch():
    coordinator, _, _ = make(ttl_s=0.05)
    assert await coordinator.grant_turn(0) is None
    assert (await released(coordinator, 1)).epoch == 2
    assert coordinator.expired_turns == 1


async def test_epoch_jumps_past_what_others_granted_and_what_the_web_node_fenced():
    coordinator, sent, _ = make()
    coordinator.observe_grant(GrantMessage(receiver=0, epoch=40, expires_at=time.time(), token="x"))
    await released(coordinator, 0, superseded_by=None)
    assert sent[-1].epoch == 41
    await released(coordinator, 1, stored=0, superseded_by=100)
    await released(coordinator, 2)
    assert sent[-1].epoch == 101


async def test_rotation_signs_with_the_newest_key(tmp_path):
    path = tmp_path / "telering.keys"
    path.write_text(K1 + "\n")
    coordinator, sent, _ = make()
    coordinator._keyring = Keyring([K1], path, check_interval_s=0.0)
    await released(coordinator, 0)
    path.write_text(f"{K1}\n{K2}\n")
    await released(coordinator, 1)
    GrantCodec([K2]).verify(sent[-1].token)


async def test_the_ring_passes_over_our_own_empty_receivers_without_a_grant():
    """Receiver 1 is ours and empty: no grant for it; 0 and 2 (not ours, or holding readings) get theirs."""
    pending = {0: None, 1: 0, 2: 5}
    coordinator, sent, _ = make(local_pending=pending.get)
    caught_up = asyncio.Event()
    caught_up.set()
    loop = asyncio.create_task(coordinator.run(caught_up))
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

    coordinator, sent, _ = make(accept=accept)
    caught_up = asyncio.Event()
    caught_up.set()
    loop = asyncio.create_task(coordinator.run(caught_up))
    try:
        await async_eventually(lambda: coordinator._awaiting and sent, timeout=10, interval=0.005)
    finally:
        loop.cancel()
    assert sent[0].receiver == 0 and sent[0].epoch == 2  # epoch 1 never reached the topic; 0 still goes first


async def test_a_coordinator_away_longer_than_a_grant_lives_catches_up_before_granting():
    """Frozen past the TTL, another leader granted meanwhile: the topic is read to its end first,
    so the next grant is above what the other granted, not below it."""
    coordinator, sent, _ = make(ttl_s=0.5)

    async def resync():  # what the token topic held meanwhile: another leader's grant of epoch 500
        coordinator.observe_grant(GrantMessage(receiver=1, epoch=500, expires_at=time.time() + 5, token="x"))

    coordinator._resync = resync
    coordinator.heartbeat = time.monotonic() - 60  # as after a SIGSTOP of a minute
    caught_up = asyncio.Event()
    caught_up.set()
    loop = asyncio.create_task(coordinator.run(caught_up))
    try:
        await async_eventually(lambda: sent, timeout=5, interval=0.001)
    finally:
        loop.cancel()
    assert coordinator.resyncs == 1 and sent[0].epoch == 501


async def test_a_coordinator_that_kept_up_does_not_resync():
    coordinator, sent, _ = make(ttl_s=5.0)
    calls = []

    async def resync():
        calls.append(1)

    coordinator._resync = resync
    caught_up = asyncio.Event()
    caught_up.set()
    loop = asyncio.create_task(coordinator.run(caught_up))
    try:
        await async_eventually(lambda: sent, timeout=5, interval=0.001)
    finally:
        loop.cancel()
    assert calls == [] and sent[0].epoch == 1
