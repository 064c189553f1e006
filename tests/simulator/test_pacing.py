"""Pacer: a deadline schedule on a fake clock (no real sleeping)."""

from __future__ import annotations

import pytest

from simulator.producer import Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(rate: float, fake: FakeTime, **kwargs: float) -> Pacer:
    return Pacer(rate, clock=fake.clock, sleep=fake.sleep, **kwargs)


def test_slots_are_due_at_start_plus_i_over_rate() -> None:
    fake = FakeTime()
    p = pacer(10, fake)
    for slot in range(50):
        p.wait(slot)
        assert fake.now == pytest.approx(100.0 + slot / 10)


def test_work_time_is_absorbed_not_added() -> None:
    fake = FakeTime()
    p = pacer(10, fake)
    for slot in range(20):
        p.wait(slot)
        fake.now += 0.03  # sending takes time; the schedule must not drift
    assert fake.now == pytest.approx(100.0 + 19 / 10 + 0.03)


def test_rate_zero_never_sleeps() -> None:
    fake = FakeTime()
    p = pacer(0, fake)
    for slot in range(1000):
        p.wait(slot)
    assert fake.slept == []


def test_small_lag_is_caught_up_big_lag_restarts_the_schedule() -> None:
    fake = FakeTime()
    p = pacer(10, fake, max_lag_s=1.0)
    p.wait(0)
    fake.now += 0.5  # half a second behind: slots 1..5 go out without sleeping
    for slot in range(1, 6):
        p.wait(slot)
    assert fake.slept == []
    fake.now += 5.0  # far behind: no burst of 50, the schedule restarts at slot 6
    p.wait(6)
    p.wait(7)
    assert fake.slept == [pytest.approx(0.1)]


def test_not_after_caps_the_wait() -> None:
    fake = FakeTime()
    p = pacer(0.1, fake)
    p.wait(0)
    p.wait(1, not_after=102.0)
    assert fake.now == pytest.approx(102.0)


def test_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(-1)
