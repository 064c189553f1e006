"""Several web node processes on one port: the parent that starts and supervises them.

WEB_NODE_PROCESSES (default `auto`, one per core) processes each listen on WEB_NODE_PORT with
SO_REUSEPORT, so the kernel spreads connections over them. The parent (`python -m web_node`)
migrates the database once, makes a private runtime directory (0700: the writer's unix socket,
the status files, the shared live-socket count) and PROMETHEUS_MULTIPROC_DIR inside it, starts
the children, replaces one that dies (logged, with its exit code), and on SIGTERM/SIGINT stops
them all and removes the directory.

On SQLite exactly one child writes: it stores batches, keeps the rollups and runs retention,
and listens on its unix socket only; the others serve the port (reads and live sockets from the
same file) and pass the batches they receive to the writer (web_node/write/forward.py), so no
read shares the writer's event loop. On PostgreSQL every child
stores the batches it receives (the fence serialises grants in the database); child 0 alone
runs retention. A child killed mid-batch has committed the batch or nothing: the worker,
having no answer, retries it, and the idempotent insert stores each reading once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from prometheus_client import multiprocess

from protocol.settings import Settings
from web_node.metrics import MULTIPROC_DIR_VARIABLE
from web_node.siblings import Role, status_path

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 15.0  # a child's graceful shutdown (live sockets closed, requests finished)
RESTART_DELAY_S = 1.0  # between a crash and its replacement: a child that cannot start does not spin
CRASH_LOOP = 5  # this many children dying within CRASH_WINDOW_S of starting: give up
CRASH_WINDOW_S = 10.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class _Child:
    role: Role
    process: BaseProcess
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    """Runs `count` children serving `settings`' port until told to stop."""

    def __init__(self, settings: Settings, count: int, *, log_level: str) -> None:
        self.settings = settings
        self.count = count
        self.log_level = log_level
        self.sqlite = settings.database_url.startswith("sqlite")
        self._context = multiprocessing.get_context("spawn")  # a fresh interpreter: no loop, no engine inherited
        self._children: dict[int, _Child] = {}
        self._stopping = False
        self._fast_deaths: list[float] = []

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (0), or until children keep dying at start (1)."""
        runtime = Path(tempfile.mkdtemp(prefix="telering-web-"))  # 0700
        metrics_dir = runtime / "metrics"
        metrics_dir.mkdir(mode=0o700)
        os.environ[MULTIPROC_DIR_VARIABLE] = str(metrics_dir)  # the children inherit it
        holder = _reserve_port(self.settings.web_node_host, self.settings.web_node_port)
        port = holder.getsockname()[1]
        self.settings = self.settings.model_copy(update={"web_node_port": port})
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(self.count):
                self._start(Role(index, self.count, self._writes(index), index == 0, runtime))
            log.info(
                "web node on %s:%d: %d processes (%s), runtime directory %s",
                self.settings.web_node_host,
                port,
                self.count,
                "one writer" if self.sqlite else "all write",
                runtime,
            )
            return self._supervise()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            holder.close()
            os.environ.pop(MULTIPROC_DIR_VARIABLE, None)
            shutil.rmtree(runtime, ignore_errors=True)

    def _writes(self, index: int) -> bool:
        return index == 0 or not self.sqlite

    def _start(self, role: Role) -> None:
        process = self._context.Process(
            target=_child_main,
            args=(self.settings, role, self.log_level, os.getpid()),
            name=f"web-node-{role.index}",
            daemon=False,
        )
        # Ctrl-C reaches the whole process group: the parent alone decides. An ignored SIGINT stays
        # ignored in the new interpreter, from its first import on
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, handler)
        self._children[role.index] = _Child(role, process)
        log.info("web node process %d started (pid %d, %s)", role.index, process.pid, role.name)

    def _supervise(self) -> int:
        while not self._stopping:
            sentinels = {child.process.sentinel: child for child in self._children.values()}
            for ready in wait(list(sentinels), timeout=0.5):
                if self._stopping:
                    break
                child = sentinels[ready]
                child.process.join()
                if not self._replace(child):
                    return 1
        return 0

    def _replace(self, child: _Child) -> bool:
        process, role = child.process, child.role
        multiprocess.mark_process_dead(process.pid, os.environ[MULTIPROC_DIR_VARIABLE])
        status_path(role.runtime_dir, role.index).unlink(missing_ok=True)
        log.error(
            "web node process %d (pid %d, %s) died with exit code %s; starting another",
            role.index,
            process.pid,
            role.name,
            process.exitcode,
        )
        now = time.monotonic()
        if now - child.started < CRASH_WINDOW_S:
            self._fast_deaths = [t for t in self._fast_deaths if now - t < CRASH_WINDOW_S] + [now]
            if len(self._fast_deaths) >= CRASH_LOOP:
                log.critical(
                    "%d web node processes died within %g s of starting: giving up", CRASH_LOOP, CRASH_WINDOW_S
                )
                return False
            time.sleep(RESTART_DELAY_S)  # a child that cannot start does not spin
        if not self._stopping:
            self._start(role)
        return True

    def _stop(self, signum: int, _frame: object) -> None:
        if not self._stopping:
            log.info("%s: stopping the web node's processes", signal.Signals(signum).name)
        self._stopping = True

    def _stop_all(self) -> None:
        children = [child.process for child in self._children.values() if child.process.is_alive()]
        for process in children:
            os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in children:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("web node process pid %d did not stop within %g s: killed", process.pid, STOP_TIMEOUT_S)
                process.kill()
                process.join()


def _reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to the port with SO_REUSEPORT: it resolves port 0 to one
    port for every child, and holds it while children come and go."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    return holder


def _child_main(settings: Settings, role: Role, log_level: str, parent: int) -> None:
    """A child: serve the port (the SQLite writer among several: its unix socket) until SIGTERM."""
    import asyncio

    from web_node.serve import serve_child

    _die_with(parent)
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s %(name)s[{role.index}]: %(message)s")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    code = asyncio.run(serve_child(settings, role))
    # everything is closed: skip tearing down hundreds of modules, which takes seconds on a busy host
    logging.shutdown()
    os._exit(code)


def _die_with(parent: int) -> None:
    """Linux: end with the parent, even one killed with -9 (a web node killed is all its processes,
    not children left serving its port)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        log.warning("cannot tie this process's life to its parent's (prctl)")
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)
