"""Child processes (web node, workers) that can be stopped, killed, paused and resumed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from testkit.waiting import eventually

# The test kit and the benchmarks are not installed (the wheel holds the product only): a child
# run as `python -m testkit.…` finds them in the checkout, as pytest does (`pythonpath = .`).
CHECKOUT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ManagedProcess:
    """A child process with its output in a log file; stopped, killed, paused on demand."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.cwd = cwd if cwd is not None else log_path.parent
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.health_url: str | None = None  # its GET /healthz, if it serves one

    def start(self) -> ManagedProcess:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if not self.alive:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        assert self.proc is not None
        if self.alive:
            self.proc.kill()
        return self.proc.wait(30)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _stat(int(entry.name))[1:] == (str(pid),):
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether `pid` exists and has not exited (a zombie, exited but not yet reaped, has)."""
    state = _stat(pid)[0]
    return state not in ("", "Z", "X")


def _stat(pid: int) -> tuple[str, ...]:
    """(state, ppid) of `pid` from /proc/<pid>/stat, or ("",) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ("",)
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return (fields[0], fields[1])


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def child_env(values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELERING_", "WEB_NODE_", "KAFKA_", "DATABASE_"))}
    env.update(values)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), env.get("PYTHONPATH")]))
    return env


def health(proc: ManagedProcess, timeout: float = 2.0) -> tuple[int, dict] | None:
    """(status, body) of the process's GET /healthz, or None if it does not answer."""
    if proc.health_url is None or not proc.alive:
        return None
    try:
        resp = requests.get(proc.health_url, timeout=timeout)
        return resp.status_code, resp.json()
    except (requests.RequestException, ValueError):
        return None


def wait_healthy(url: str, proc: ManagedProcess, timeout: float = 30.0, verify: str | bool = True) -> None:
    """Until `url`/healthz answers 200; `verify`: the CA file of an https:// web node."""

    def healthy() -> bool:
        assert proc.alive, f"{proc.name} exited:\n{proc.log_tail()}"
        try:
            return requests.get(f"{url}/healthz", timeout=2, verify=verify).status_code == 200
        except requests.RequestException:
            return False

    eventually(healthy, timeout=timeout, message=f"{proc.name} did not become healthy")
