"""Commit points: a partition's committed offset never passes a reading that is not stored yet."""

from stream_app.buffers import Pending, ReceiverBuffers
from stream_app.commits import CommitPoints


def buffered(buffers: ReceiverBuffers, partition: int, offsets: range) -> None:
    for offset in offsets:
        buffers.add(partition, Pending(raw=b"{}", offset=offset))


def test_the_commit_point_is_the_oldest_reading_still_buffered():
    buffers, commits = ReceiverBuffers(100), CommitPoints()
    buffered(buffers, 0, range(10, 15))
    commits.handled(0, 15)
    assert commits.due({0}, buffers.head_offset) == {0: 10}

    buffers.pop(0, buffers.peek(0, 3))  # 10, 11, 12 stored
    assert commits.due({0}, buffers.head_offset) == {0: 13}


def test_with_nothing_buffered_everything_handled_is_committed():
    """Dead-lettered or stored: past the last message read."""
    buffers, commits = ReceiverBuffers(100), CommitPoints()
    commits.handled(0, 42)
    assert commits.due({0}, buffers.head_offset) == {0: 42}


def test_a_commit_is_due_only_when_the_point_moved():
    buffers, commits = ReceiverBuffers(100), CommitPoints()
    buffered(buffers, 0, range(5))
    commits.handled(0, 5)
    commits.committed(commits.due({0}, buffers.head_offset))
    assert commits.due({0}, buffers.head_offset) == {}

    buffers.pop(0, buffers.peek(0, 5))
    assert commits.due({0}, buffers.head_offset) == {0: 5}


def test_handled_never_goes_back_and_unknown_or_unowned_partitions_are_not_committed():
    buffers, commits = ReceiverBuffers(100), CommitPoints()
    commits.handled(1, 30)
    commits.handled(1, 20)  # an older fetch reported late
    assert commits.due({1, 2}, buffers.head_offset) == {1: 30}
    assert commits.due({2}, buffers.head_offset) == {}


def test_reset_forgets_a_partition_so_a_new_owner_starts_from_kafka():
    buffers, commits = ReceiverBuffers(100), CommitPoints()
    commits.handled(0, 50)
    commits.committed({0: 50})
    commits.reset({0})
    assert commits.due({0}, buffers.head_offset) == {}
    commits.handled(0, 40)  # re-read from an older commit after a rebalance: still committable
    assert commits.due({0}, buffers.head_offset) == {0: 40}
