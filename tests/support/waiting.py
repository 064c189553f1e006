"""The suite's one way to synchronise: wait on a condition with a deadline (never a bare sleep)."""

from testkit.waiting import async_eventually, eventually

__all__ = ["async_eventually", "eventually"]
