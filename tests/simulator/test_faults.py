"""Fault injection: every invalid kind breaks the schema; fractions and seeds behave."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from protocol.readings import InvalidReading, parse_reading
from simulator.encoding import encode, reading
from simulator.faults import INVALID_KINDS, Action, FaultConfig, FaultPlan
from simulator.signals import SensorSignal

NOW = datetime.now(UTC)


def a_reading(rng: random.Random, seq: int = 0) -> dict[str, object]:
    return reading(f"sensor-{rng.randrange(100):03d}", seq, NOW, SensorSignal(rng.random()).sample(rng.uniform(0, 1e4)))


def plan(seed: int = 0, **fractions: float) -> FaultPlan:
    return FaultPlan(FaultConfig(**fractions), random.Random(seed))


def test_the_kinds_cover_the_brief() -> None:
    assert {"malformed_json", "wrong_type", "nan", "out_of_range", "missing_field", "extra_field", "future_ts"} <= set(
        INVALID_KINDS
    )


def test_the_base_reading_is_valid() -> None:
    rng = random.Random(1)
    for seq in range(200):
        parse_reading(encode(a_reading(rng, seq)))


@pytest.mark.parametrize("kind", INVALID_KINDS)
def test_every_invalid_kind_is_rejected_by_parse_reading(kind: str) -> None:
    rng, faults = random.Random(kind), plan(seed=INVALID_KINDS.index(kind))
    now = datetime.now(UTC)  # not NOW (import time): a long suite would make "the future" the past
    for _ in range(300):
        value = faults.invalid_message(kind, a_reading(rng, rng.randrange(10**6)), now)
        with pytest.raises(InvalidReading):
            parse_reading(value)


def test_nan_is_the_bare_json_token() -> None:
    value = plan(2).invalid_message("nan", a_reading(random.Random(2)), NOW)
    assert b":NaN" in value


def test_invalid_messages_do_not_touch_the_original() -> None:
    original = a_reading(random.Random(3))
    snapshot = dict(original)
    faults = plan(3)
    for kind in INVALID_KINDS:
        faults.invalid_message(kind, original, NOW)
    assert original == snapshot


def test_fractions_are_roughly_respected() -> None:
    faults = plan(4, invalid_fraction=0.1, duplicate_fraction=0.2)
    actions = Counter(faults.action() for _ in range(50_000))
    assert actions[Action.INVALID] / 50_000 == pytest.approx(0.1, abs=0.01)
    assert actions[Action.DUPLICATE] / 50_000 == pytest.approx(0.2, abs=0.01)


def test_hold_back_is_scaled_to_a_fraction_of_all_messages() -> None:
    faults = plan(5, invalid_fraction=0.5, out_of_order_fraction=0.1)
    holds = sum(faults.hold_back() for _ in range(50_000))
    assert holds / 50_000 == pytest.approx(0.2, abs=0.01)  # 0.1 of all = 0.2 of the fresh half


def test_invalid_kinds_are_all_used() -> None:
    faults = plan(6, invalid_fraction=1.0)
    assert set(faults.invalid_kind() for _ in range(2000)) == set(INVALID_KINDS)


def test_no_faults_by_default() -> None:
    faults = FaultPlan(FaultConfig(), random.Random(7))
    assert {faults.action() for _ in range(1000)} == {Action.FRESH}
    assert not any(faults.hold_back() for _ in range(1000))


def test_same_seed_same_faults() -> None:
    def draw(seed: int) -> list[object]:
        faults = plan(seed, invalid_fraction=0.3, duplicate_fraction=0.3, out_of_order_fraction=0.2)
        base = a_reading(random.Random(0))
        return [
            (faults.action(), faults.hold_back(), faults.invalid_message(faults.invalid_kind(), base, NOW))
            for _ in range(500)
        ]

    assert draw(8) == draw(8)
    assert draw(8) != draw(9)


@pytest.mark.parametrize(
    "fractions",
    [
        {"invalid_fraction": -0.1},
        {"duplicate_fraction": 1.5},
        {"out_of_order_fraction": float("nan")},
        {"invalid_fraction": 0.6, "duplicate_fraction": 0.5},
        {"invalid_fraction": 0.5, "duplicate_fraction": 0.3, "out_of_order_fraction": 0.3},
    ],
)
def test_bad_fractions_are_refused(fractions: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FaultConfig(**fractions)
