"""Compose's `mem_limit` on a namespace host: a memory cgroup of its own (cgroup v2 or v1) under
this process's, where the machine lets us make one; otherwise the limit is ignored, and the log
says so once. The other hardening keys (`cap_drop`, `security_opt`, `read_only`, `tmpfs`) are
the container runtime's and have no stand-in here: the processes run as this user."""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_warned: set[str] = set()


def parse_bytes(text: str | int | None) -> int | None:
    """Compose's byte values: `512m`, `1.5g`, `268435456`."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*", str(text).lower())
    if match is None:
        raise ValueError(f"mem_limit {text!r}: expected a number of bytes, e.g. 512m or 1g")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def confine(pid: int, name: str, limit_bytes: int | None) -> Path | None:
    """Put `pid` (and so what it starts) in a cgroup `tlr-<name>` limited to `limit_bytes`; the
    cgroup, or None where none can be made (logged once)."""
    if limit_bytes is None:
        return None
    try:
        group, limit_file = _own_memory_cgroup()
        path = group / f"tlr-{name}"
        path.mkdir(exist_ok=True)
        (path / limit_file).write_text(str(limit_bytes))
        (path / "cgroup.procs").write_text(str(pid))
    except OSError as exc:
        if name not in _warned:
            _warned.add(name)
            log.warning(
                "%s: mem_limit %d bytes ignored (no memory cgroup can be made here: %s)", name, limit_bytes, exc
            )
        return None
    return path


def release(cgroup: Path | None) -> None:
    """Remove a host's cgroup once its processes are gone (a live one stays: the kernel refuses)."""
    if cgroup is not None:
        try:
            cgroup.rmdir()
        except OSError:
            pass


def _own_memory_cgroup() -> tuple[Path, str]:
    """This process's memory cgroup directory and its limit file's name (v2: memory.max)."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return CGROUP_ROOT / "memory" / path.lstrip("/"), "memory.limit_in_bytes"
    unified = CGROUP_ROOT / "cgroup.controllers"
    if unified.exists() and "memory" in unified.read_text().split():
        path = next(line.split(":", 2)[2] for line in lines if line.startswith("0::"))
        return CGROUP_ROOT / path.lstrip("/"), "memory.max"
    raise OSError("no memory controller in /proc/self/cgroup")
