"""The receiver side's interface to the token side and to health/metrics: which partitions it
owns (and when that changes), when readings arrive, and its status."""

from __future__ import annotations

import asyncio

from protocol.settings import Settings
from stream_app.buffers import Pending
from stream_app.receiver_side import ReceiverSide
from tests.stream_app.test_turns import RecordedDeadLetters


def receiver_side() -> ReceiverSide:
    return ReceiverSide(Settings(receiver_buffer_max=100), "readings", RecordedDeadLetters(), client_id="test")


async def test_ownership_is_told_now_and_as_soon_as_a_rebalance_changes_it():
    side = receiver_side()
    ownership = side.ownership(interval=3600)  # a change must not wait for the interval
    assert await anext(ownership) == ()
    following = asyncio.ensure_future(anext(ownership))
    await side._on_assigned({2, 0})  # the consumer's rebalance listener
    assert await asyncio.wait_for(following, 10) == (0, 2)
    assert side.owns(2) and not side.owns(1)
    following = asyncio.ensure_future(anext(ownership))
    await side._on_revoked({2})
    assert await asyncio.wait_for(following, 10) == (0,)


async def test_an_arrival_is_told_once_per_partition_that_was_empty():
    side = receiver_side()
    await side._on_assigned({0, 1})
    arrivals = side.arrivals()
    side.buffers.extend(0, [Pending(b"{}", 0)])
    await asyncio.wait_for(anext(arrivals), 10)
    side.buffers.extend(0, [Pending(b"{}", 1)])  # partition 0 held readings already: nothing new
    assert not side.buffers.arrived.is_set()
    side.buffers.extend(1, [Pending(b"{}", 0)])
    await asyncio.wait_for(anext(arrivals), 10)


async def test_status_tells_what_each_owned_partition_holds():
    side = receiver_side()
    await side._on_assigned({0, 3})
    side.buffers.extend(3, [Pending(b"{}", 7), Pending(b"{}", 8)])
    status = side.status()
    assert status.pending == {0: 0, 3: 2} and status.buffered == 2
    assert not status.in_group and status.consumed == 0
