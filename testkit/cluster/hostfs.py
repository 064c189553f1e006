"""A namespace host as a container sees it: its file system root (the compose files' absolute
paths mapped under it) and how its main process starts. Shared by every image's stand-in
(testkit.cluster.images, testkit.cluster.postgres_image)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Launch:
    """How a host's main process starts: argv, environment, working directory, stop signal."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    stop_signal: str = "SIGTERM"
    user: str | None = None  # run as this user (runuser), else as us


class HostFs:
    """The host's file system root, and the mapping of the compose files' absolute paths into it."""

    def __init__(self, root: Path, mapped: list[str]) -> None:
        self.root = root
        self.mapped = sorted(set(mapped), key=len, reverse=True)

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def text(self, value: str) -> str:
        """`value` with every mapped absolute path moved under the root."""
        for prefix in self.mapped:
            value = _replace_path(value, prefix, str(self.path(prefix)))
        return value


def _replace_path(value: str, prefix: str, replacement: str) -> str:
    out, i = [], 0
    while (j := value.find(prefix, i)) >= 0:
        end = j + len(prefix)
        boundary_before = j == 0 or not (value[j - 1].isalnum() or value[j - 1] in "/._-")
        boundary_after = end == len(value) or value[end] in "/ '\"=:,;)\n\t"
        out.append(value[i:j] + (replacement if boundary_before and boundary_after else prefix))
        i = end
    return "".join(out) + value[i:]
