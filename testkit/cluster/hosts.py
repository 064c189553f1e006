"""One namespace host running one compose service: its main process, its health check, and the
faults done to it (kill -9, SIGSTOP/SIGCONT of every process in it, its link cut)."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

from testkit.cluster.compose import Service
from testkit.cluster.hostfs import HostFs, Launch
from testkit.cluster.images import health_argv, launch
from testkit.cluster.limits import confine, release
from testkit.cluster.netns import NetHost
from testkit.waiting import eventually

log = logging.getLogger(__name__)

IP = shutil.which("ip") or "/usr/sbin/ip"


class HostError(RuntimeError):
    """A host's process exited, or never became healthy; the message has its log's tail."""


class Host:
    def __init__(self, name: str, service: Service, net: NetHost, fs: HostFs, venv_bin: Path, extra_args=()) -> None:
        self.name = name
        self.service = service
        self.net = net
        self.fs = fs
        self.venv_bin = venv_bin
        self.extra_args = list(extra_args)  # appended to the command (a `docker compose run` of it)
        self.log_path = fs.root / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.launch: Launch | None = None
        self._log: IO[bytes] | None = None
        self._cgroup: Path | None = None  # its mem_limit, where a cgroup can be made

    @property
    def address(self) -> str:
        return self.net.address

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Host:
        if self.alive:
            raise HostError(f"{self.name} is already running")
        self.launch = launch(self.service, self.fs, self.venv_bin)
        argv = [*self._enter(), *self.launch.argv, *self.extra_args]
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv,
            env=self.launch.env,
            cwd=self.launch.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        release(self._cgroup)  # a restarted host's old group is empty now
        self._cgroup = confine(self.proc.pid, self.name, self.service.mem_limit)
        log.info(
            "%s (%s) started in %s at %s, pid %d",
            self.name,
            self.service.image,
            self.net.netns,
            self.address,
            self.proc.pid,
        )
        return self

    def _enter(self) -> list[str]:
        """Into the host: its network namespace, and its own host name (a UTS namespace, as docker gives)."""
        hostname = self.service.hostname or self.name
        set_name = 'hostname "$1" && shift && exec "$@"'
        return [IP, "netns", "exec", self.net.netns, "unshare", "--uts", "--", "sh", "-c", set_name, "sh", hostname]

    def stop(self, timeout: float = 30.0) -> int | None:
        """The compose stop: the image's stop signal, SIGKILL after `timeout` (docker's grace)."""
        if self.proc is None:
            return None
        if self.alive:
            assert self.launch is not None
            self.net.signal_all(signal.SIGCONT)
            self.proc.send_signal(getattr(signal, self.launch.stop_signal))
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s outlived %gs after %s: killing it", self.name, timeout, self.launch.stop_signal)
        self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        """kill -9 of every process of the host."""
        self.net.signal_all(signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        eventually(lambda: not self.net.pids(), timeout=30, message=f"{self.name}'s processes outlived SIGKILL")
        release(self._cgroup)
        self._cgroup = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def freeze(self) -> int:
        """SIGSTOP every process of the host; how many."""
        return self.net.signal_all(signal.SIGSTOP)

    def thaw(self) -> int:
        return self.net.signal_all(signal.SIGCONT)

    def link(self, up: bool) -> None:
        self.net.link(up)

    def run(self, argv: list[str], timeout: float = 30.0, env: dict[str, str] | None = None):
        """Run a command inside the host (as `docker compose exec` would)."""
        assert self.launch is not None or env is not None
        full_env = {**(self.launch.env if self.launch else {}), "TLR_HOST_ROOT": str(self.fs.root), **(env or {})}
        return subprocess.run(
            [*self._enter(), *argv],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.fs.root,
        )

    def healthy(self) -> bool:
        """The compose health check's test, run inside the host."""
        check = self.service.healthcheck
        if check is None or not self.alive:
            return False
        try:
            done = self.run(health_argv(self.service, self.fs, self.venv_bin), timeout=check.timeout_s)
        except subprocess.TimeoutExpired:
            return False
        if done.returncode != 0:
            log.debug("%s: health check failed (%d): %s", self.name, done.returncode, done.stderr[-500:])
        return done.returncode == 0

    def wait_healthy(self, timeout: float | None = None) -> float:
        """Until the health check passes (compose's `service_healthy`); seconds it took."""
        check = self.service.healthcheck
        if check is None:
            raise HostError(f"{self.name} has no health check to wait for")
        started = time.monotonic()
        limit = timeout or check.start_period_s + check.interval_s * check.retries + 60

        def healthy() -> bool:
            if not self.alive:
                raise HostError(f"{self.name} exited {self.proc and self.proc.returncode}:\n{self.log_tail()}")
            return self.healthy()

        try:
            eventually(healthy, timeout=limit, interval=1.0)
        except AssertionError as exc:
            raise HostError(f"{self.name} never became healthy: {exc}\n{self.log_tail()}") from exc
        return time.monotonic() - started

    def wait_completed(self, timeout: float = 180.0) -> None:
        """compose's `service_completed_successfully`: the process exited 0."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise HostError(f"{self.name} still running after {timeout:g}s:\n{self.log_tail()}") from exc
        if code != 0:
            raise HostError(f"{self.name} exited {code}:\n{self.log_tail()}")

    def get_json(self, url: str, timeout: float = 10.0) -> dict | None:
        """GET `url` from inside the host (e.g. the worker's own http://127.0.0.1:6066/healthz)."""
        script = (
            "import sys, urllib.request, urllib.error\n"
            "try:\n r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.read().decode())\n"
            "except urllib.error.HTTPError as e:\n print(e.read().decode())\n"
        )
        try:
            done = self.run([str(self.venv_bin / "python"), "-c", script, url], timeout=timeout)
            return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else None
        except (subprocess.TimeoutExpired, ValueError):
            return None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])
