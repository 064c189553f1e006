"""Receiver buffers: FIFO per partition, bounded in total, chunks bounded by count and bytes."""

import asyncio

from stream_app.buffers import Pending, ReceiverBuffers


def pending(i: int, size: int = 0) -> Pending:
    return Pending(raw=(b"%d" % i).ljust(size, b" "), offset=i)


async def test_fifo_peek_pop_and_drop():
    buffers = ReceiverBuffers(max_total=100)
    for i in range(5):
        buffers.add(0, pending(i))
    buffers.add(1, pending(10))
    assert [p.offset for p in buffers.peek(0, 3)] == [0, 1, 2]
    assert [p.offset for p in buffers.pop(0, buffers.peek(0, 2))] == [0, 1]
    assert buffers.size(0) == 3 and buffers.total == 4
    assert buffers.remove(0, buffers.peek(0, 3)[1:2]) == 1
    assert [p.offset for p in buffers.peek(0, 10)] == [2, 4]
    assert buffers.drop([0, 7]) == 2
    assert buffers.total == 1 and buffers.size(1) == 1


async def test_peek_is_bounded_by_bytes_but_always_takes_one():
    buffers = ReceiverBuffers(max_total=100)
    buffers.extend(0, [pending(i, size=100) for i in range(10)])
    assert len(buffers.peek(0, 10, max_bytes=350)) == 3
    buffers.extend(1, [pending(1, size=5000)])
    assert len(buffers.peek(1, 10, max_bytes=350)) == 1  # a big one alone still goes (its answer settles it)


async def test_arrival_is_signalled_when_a_partition_stops_being_empty():
    buffers = ReceiverBuffers(max_total=100)
    buffers.add(0, pending(0))
    assert buffers.arrived.is_set()
    buffers.arrived.clear()
    buffers.add(0, pending(1))
    assert not buffers.arrived.is_set()  # not empty before: nothing new to wake for
    buffers.pop(0, buffers.peek(0, 2))
    buffers.add(0, pending(2))
    assert buffers.arrived.is_set()


async def test_backpressure_until_drained():
    buffers = ReceiverBuffers(max_total=3)
    for i in range(3):
        buffers.add(0, pending(i))
    waiter = asyncio.create_task(buffers.wait_for_space())
    await asyncio.sleep(0)
    assert not waiter.done()
    buffers.pop(0, buffers.peek(0, 1))
    await asyncio.wait_for(waiter, timeout=5)


async def test_pop_after_a_rebalance_keeps_the_entries_that_replaced_the_chunk():
    """A chunk in flight when its partition was dropped and refilled: the new entries stay."""
    buffers = ReceiverBuffers(max_total=100)
    for i in range(3):
        buffers.add(0, pending(i))
    in_flight = buffers.peek(0, 3)
    buffers.drop([0])  # revoked while the chunk was being stored...
    for i in range(3):  # ...assigned again, re-read from the committed offset
        buffers.add(0, pending(i))
    assert buffers.pop(0, in_flight) == []
    assert [p.offset for p in buffers.peek(0, 10)] == [0, 1, 2] and buffers.total == 3
