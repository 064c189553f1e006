"""The ring's order and membership (pure logic)."""

from stream_app.ring import Ring


def test_next_after_wraps_and_skips_none():
    ring = Ring()
    ring.saw("w1", (0, 2), seen_at=100.0)
    ring.saw("w2", (1, 3), seen_at=100.0)
    order, last = [], None
    for _ in range(8):
        last = ring.next_after(last, now=100.5)
        order.append(last)
    assert order == [0, 1, 2, 3, 0, 1, 2, 3]


def test_silent_worker_drops_out_and_the_newest_presence_wins():
    ring = Ring(ttl_s=3.0)
    ring.saw("w1", (0, 1), seen_at=100.0)
    ring.saw("w2", (2, 3), seen_at=102.0)
    assert ring.members(now=104.0) == [2, 3]
    ring.saw("w2", (), seen_at=104.0)  # revoked everything
    assert ring.next_after(None, now=104.5) is None


def test_liveness_is_judged_on_the_local_clock_only():
    """`seen_at` is when this worker saw the message: a sender's clock cannot keep it alive."""
    ring = Ring(ttl_s=3.0)
    ring.saw("w1", (0,), seen_at=100.0)
    assert ring.members(now=103.0) == [0] and ring.members(now=103.5) == []


def test_next_after_a_departed_member():
    ring = Ring()
    ring.saw("w1", (0, 3), seen_at=10.0)
    assert ring.next_after(1, now=10.0) == 3
    assert ring.next_after(3, now=10.0) == 0


def test_repeated_partitions_count_once():
    ring = Ring()
    ring.saw("w1", (2, 2, 0), seen_at=10.0)
    assert ring.members(now=10.0) == [0, 2]
