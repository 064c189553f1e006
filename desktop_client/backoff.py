"""Exponential back-off with jitter for reconnecting to the web node."""

from __future__ import annotations

import random


class Backoff:
    """Delays base, base·factor, base·factor², … capped at `maximum`, each with ±`jitter` spread."""

    def __init__(
        self,
        base: float = 0.25,
        factor: float = 2.0,
        maximum: float = 10.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if base <= 0 or factor < 1 or maximum < base:
            raise ValueError(f"bad back-off: base={base}, factor={factor}, maximum={maximum}")
        self.base, self.factor, self.maximum, self.jitter = base, factor, maximum, jitter
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        delay = min(self.maximum, self.base * self.factor**self.attempt)
        self.attempt += 1
        return delay * (1 + self._rng.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.attempt = 0
