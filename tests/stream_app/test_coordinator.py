"""The coordinator's grants: ring order, monotonic epochs, moving on after expiry."""

from __future__ import annotations

import asyncio
import time

from protocol.grants import GrantCodec
from protocol.token import Presence, Release
from stream_app.coordinator import Coordinator


def make(ttl_s: float = 5.0):
    sent = []
    keys = ["k1"]

    async def publish(message):
        sent.append(message)

    coordinator = Coordinator(publish=publish, is_leader=lambda: True, keys=lambda: keys, ttl_s=ttl_s)
    coordinator.observe_presence(Presence("w", (0, 1, 2), time.time()))
    return coordinator, sent, keys


async def released(coordinator, receiver, stored=1, superseded_by=None):
    task = asyncio.create_task(coordinator.grant_turn(receiver))
    while not coordinator._awaiting:
        await asyncio.sleep(0)
    epoch = coordinator._awaiting[0]
    coordinator.observe_release(Release(receiver, epoch, stored, superseded_by=superseded_by))
    return await task


async def test_grants_are_signed_and_epochs_increase():
    coordinator, sent, keys = make()
    for receiver in (0, 1, 2):
        assert (await released(coordinator, receiver)).receiver == receiver
    assert [m.epoch for m in sent] == [1, 2, 3]
    grant = GrantCodec(keys).verify(sent[-1].token)
    assert (grant.receiver, grant.epoch) == (2, 3)


async def test_expired_turn_moves_on_with_higher_epoch():
    coordinator, _sent, _ = make(ttl_s=0.05)
    assert await coordinator.grant_turn(0) is None
    assert (await released(coordinator, 1)).epoch == 2
    assert coordinator.expired_turns == 1


async def test_epoch_jumps_past_what_others_granted_and_what_the_web_node_fenced():
    coordinator, sent, _ = make()
    from protocol.token import GrantMessage

    coordinator.observe_grant(GrantMessage(0, 40, time.time(), "x"))  # a rival/previous coordinator
    await released(coordinator, 0, superseded_by=None)
    assert sent[-1].epoch == 41
    await released(coordinator, 1, stored=0, superseded_by=100)
    await released(coordinator, 2)
    assert sent[-1].epoch == 101


async def test_rotation_signs_with_the_newest_key():
    coordinator, sent, keys = make()
    await released(coordinator, 0)
    keys.append("k2")
    await released(coordinator, 1)
    GrantCodec(["k2"]).verify(sent[-1].token)
