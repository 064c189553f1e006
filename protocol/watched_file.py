"""A file followed as it changes: the key file, the readers file, the alert rules.

A change is a new (mtime, size, inode) stamp, so a file replaced by rename counts as well as one
rewritten in place; a missing file has the stamp None. Looking costs one stat(), at most once per
interval unless forced.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

Stamp = tuple[int, int, int] | None


def stamp_of(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class WatchedFile:
    """`changed()` is True once for each change of `path` since the last look (or since creation)."""

    def __init__(self, path: Path, *, interval_s: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._interval = interval_s
        self._clock = clock
        self._stamp = stamp_of(self.path)
        self._checked = clock()

    def changed(self, *, force: bool = False) -> bool:
        now = self._clock()
        if not force and now - self._checked < self._interval:
            return False
        self._checked = now
        stamp = stamp_of(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return True
