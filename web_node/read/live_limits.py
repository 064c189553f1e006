"""How many live WebSockets are open, per reader and in all, across the web node's processes.

WEB_NODE_LIVE_MAX_PER_READER and WEB_NODE_LIVE_MAX bound them; one more is refused 429
`too_many_live_clients` before the upgrade. With several processes the count is shared: one
JSON file in the private runtime directory (`live.json`, `{pid: {reader: n}}`), changed under
an exclusive `flock`, so two processes admitting at once cannot both take the last place.
Entries of processes that are gone (a `kill -9` leaves its count behind) are not counted.
A process alone keeps the count in memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from web_node.errors import ApiError

COUNTS_FILE = "live.json"
LOCK_FILE = "live.lock"


class LiveLimits:
    """`admit(reader)` raises 429 or takes a place; `release(reader)` gives it back."""

    def __init__(self, per_reader: int, total: int, runtime_dir: Path | None = None) -> None:
        self.per_reader = per_reader
        self.total = total
        self._dir = runtime_dir
        self._mine: Counter[str] = Counter()

    def admit(self, reader: str) -> None:
        with self._shared() as others:
            everyone = sum(others.values(), Counter()) + self._mine
            if everyone[reader] >= self.per_reader:
                raise _refused(f"this reader has {everyone[reader]} live sockets open; the limit is {self.per_reader}")
            if sum(everyone.values()) >= self.total:
                raise _refused(f"the web node has {self.total} live sockets open, its limit")
            self._mine[reader] += 1

    def release(self, reader: str) -> None:
        with self._shared():
            self._mine[reader] -= 1
            if self._mine[reader] <= 0:
                del self._mine[reader]

    @contextlib.contextmanager
    def _shared(self) -> Iterator[dict[int, Counter[str]]]:
        """The other live processes' counts, under the lock; this process's are written back after."""
        if self._dir is None:
            yield {}
            return
        with open(self._dir / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # microseconds: held for one small read and write
            path = self._dir / COUNTS_FILE
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError):
                stored = {}
            others = {int(pid): Counter(counts) for pid, counts in stored.items() if _alive(int(pid))}
            others.pop(os.getpid(), None)
            yield others
            stored = {str(pid): dict(counts) for pid, counts in others.items()}
            if self._mine:
                stored[str(os.getpid())] = dict(self._mine)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(stored))
            temporary.replace(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _refused(detail: str) -> ApiError:
    error = ApiError(429, "too_many_live_clients", detail)
    error.headers["Retry-After"] = "10"
    return error
