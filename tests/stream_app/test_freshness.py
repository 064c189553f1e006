"""Freshness of token-topic messages: each sender's stream only moves forward (no broker needed)."""

from __future__ import annotations

import pytest

from protocol.token_messages import Origin, Presence, TokenMessageInvalid, decode, encode
from stream_app.freshness import MAX_AGE_S, Freshness, Outgoing

NOW = 1_767_323_000.0
INC_A, INC_B = "a" * 32, "b" * 32


def origin(seq: int, *, incarnation: str = INC_A, sender: str = "w1", sent_at: float = NOW, app: str = "t") -> Origin:
    return Origin(app=app, sender=sender, incarnation=incarnation, seq=seq, sent_at=sent_at)


def refused(freshness: Freshness, o: Origin | None, seen_at: float = NOW) -> str:
    with pytest.raises(TokenMessageInvalid) as info:
        freshness.check(o, seen_at)
    return info.value.reason


def test_outgoing_stamps_one_incarnation_with_rising_seqs_that_survive_the_wire() -> None:
    out = Outgoing("t", "w1", clock=lambda: NOW)
    first, second = (decode(encode(out.stamp(Presence(worker="w1", partitions=(0,), at=NOW)))) for _ in range(2))
    assert first.origin == origin(1, incarnation=out.incarnation)
    assert second.origin == origin(2, incarnation=out.incarnation)
    assert Outgoing("t", "w1").incarnation != out.incarnation  # random per process start


def test_a_senders_messages_in_order_are_taken_and_a_repeat_or_older_one_is_replayed() -> None:
    fresh = Freshness("t")
    for seq in (1, 2, 5):  # gaps are fine: a message may fail to be written
        fresh.check(origin(seq), NOW)
    assert refused(fresh, origin(5)) == "replayed"
    assert refused(fresh, origin(3)) == "replayed"
    fresh.check(origin(6), NOW)


def test_senders_are_judged_apart() -> None:
    fresh = Freshness("t")
    fresh.check(origin(9, sender="w1"), NOW)
    fresh.check(origin(1, sender="w2", incarnation=INC_B), NOW)
    assert refused(fresh, origin(1, sender="w2", incarnation=INC_B)) == "replayed"


def test_a_new_incarnation_is_taken_when_sent_later_and_retires_the_old_one() -> None:
    fresh = Freshness("t")
    fresh.check(origin(40, sent_at=NOW), NOW)
    fresh.check(origin(1, incarnation=INC_B, sent_at=NOW + 5), NOW + 5)  # the worker restarted
    assert refused(fresh, origin(41, sent_at=NOW + 1), NOW + 6) == "replayed"  # the old incarnation, for good
    assert refused(fresh, origin(99, sent_at=NOW + 9), NOW + 9) == "replayed"
    fresh.check(origin(2, incarnation=INC_B, sent_at=NOW + 6), NOW + 6)


def test_another_incarnation_sent_earlier_than_the_newest_is_replayed() -> None:
    fresh = Freshness("t")
    fresh.check(origin(1, incarnation=INC_B, sent_at=NOW + 5), NOW + 5)
    assert refused(fresh, origin(40, incarnation=INC_A, sent_at=NOW), NOW + 6) == "replayed"
    fresh.check(origin(2, incarnation=INC_B, sent_at=NOW + 6), NOW + 6)  # still the sender's stream


def test_an_unknown_senders_old_message_is_stale_and_a_recent_one_taken() -> None:
    fresh = Freshness("t")
    assert refused(fresh, origin(3, sent_at=NOW - MAX_AGE_S - 1)) == "stale"
    fresh.check(origin(3, sent_at=NOW - 5), NOW)
    # history read at start-up is judged at its broker time, not now
    fresh.check(origin(1, sender="w9", sent_at=NOW - 3600), NOW - 3599)


def test_other_deployments_and_unbound_messages_are_refused() -> None:
    fresh = Freshness("t")
    assert refused(fresh, origin(1, app="staging")) == "other_deployment"
    assert refused(fresh, None) == "unbound"
    fresh.check(origin(1), NOW)  # neither counted as seen


def test_the_state_is_bounded_and_a_forgotten_senders_copies_are_stale() -> None:
    fresh = Freshness("t", max_senders=2)
    fresh.check(origin(7, sender="w1"), NOW)
    fresh.check(origin(1, sender="w2"), NOW + 1)
    fresh.check(origin(1, sender="w3"), NOW + 2)  # w1 is forgotten
    assert refused(fresh, origin(7, sender="w1"), NOW + MAX_AGE_S + 1) == "stale"
    assert refused(fresh, origin(1, sender="w3"), NOW + 3) == "replayed"
