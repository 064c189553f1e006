"""Wait on a condition with a deadline: the suite's one way to synchronise (never a bare sleep)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
Retryable = tuple[type[BaseException], ...]


def eventually(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.05,
    *,
    message: str = "",
    retry_on: Retryable = (AssertionError,),
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Exceptions in ``retry_on`` (assertions by default) count as "not yet"; others propagate.
    Raises AssertionError naming the predicate and the last failure after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        last = _attempt(predicate, retry_on)
        if last.ok:
            return last.value
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_message(predicate, timeout, message, last))
        time.sleep(interval)  # polling interval between checks of the condition


async def async_eventually(
    predicate: Callable[[], Awaitable[T] | T],
    timeout: float = 30.0,
    interval: float = 0.05,
    *,
    message: str = "",
    retry_on: Retryable = (AssertionError,),
) -> T:
    """Like :func:`eventually` for a sync or async ``predicate``, without blocking the loop."""
    deadline = time.monotonic() + timeout
    while True:
        last = await _attempt_async(predicate, retry_on)
        if last.ok:
            return last.value
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_message(predicate, timeout, message, last))
        await asyncio.sleep(interval)


@dataclass
class _Outcome:
    """One evaluation of a predicate: its value, or the retryable error it raised."""

    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.value)


def _attempt(predicate: Callable[[], Any], retry_on: Retryable) -> _Outcome:
    try:
        return _Outcome(predicate())
    except retry_on as exc:
        return _Outcome(error=exc)


async def _attempt_async(predicate: Callable[[], Any], retry_on: Retryable) -> _Outcome:
    try:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        return _Outcome(value)
    except retry_on as exc:
        return _Outcome(error=exc)


def _timeout_message(predicate: Callable[..., Any], timeout: float, message: str, last: _Outcome) -> str:
    name = getattr(predicate, "__qualname__", repr(predicate))
    detail = f"last error: {type(last.error).__name__}: {last.error}" if last.error else f"last value: {last.value!r}"
    prefix = f"{message}: " if message else ""
    return f"{prefix}condition {name} not met within {timeout:g}s ({detail})"
