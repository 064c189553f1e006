"""Make sure no broker process outlives the Python process that started it."""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_live: set[Stoppable] = set()
_lock = threading.Lock()
_registered = False


class Stoppable(Protocol):
    def stop(self, timeout: float = ...) -> None: ...


def track(broker: Stoppable) -> None:
    """Remember a running broker so that interpreter exit stops it."""
    global _registered
    with _lock:
        _live.add(broker)
        if not _registered:
            atexit.register(_stop_all)
            _registered = True


def untrack(broker: Stoppable) -> None:
    """Forget a broker that has stopped."""
    with _lock:
        _live.discard(broker)


def die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when this process dies.

    Linux only. PDEATHSIG fires when the *thread* that forked exits, so it is only armed
    when called from the main thread; elsewhere the atexit hook and fixtures still apply.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        log.debug("Not on the main thread: broker will not get PDEATHSIG")
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _stop_all() -> None:
    with _lock:
        brokers = list(_live)
    for broker in brokers:
        log.warning("Stopping a Kafka broker left running at exit")
        broker.stop(timeout=10.0)
