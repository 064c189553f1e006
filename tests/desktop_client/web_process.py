"""A real web node process for the dashboard's end-to-end tests, and readings to store in it.

The node runs `python -m web_node` on a fixed loopback port with a real SQLite file, so a test
can stop and restart it in place; readings go in only through `POST /api/v1/batches`, one batch
per receiver under a fresh grant, as the token ring stores them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from protocol.grants import Grant, GrantCodec
from testkit.processes import ManagedProcess, child_env, free_port, python_argv, wait_healthy
from testkit.steady import shares_by_receiver
from tests.support.web import TEST_RETENTION, make_reading

PARTITIONS = 4
REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output" / "desktop_client"


class WebNode:
    """A web node process on a fixed port and SQLite file, so it can be restarted in place;
    `env`: settings of its own on top of the defaults here."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = f"desktop-client-test-key-{os.getpid()}-{self.port}".ljust(43, "0")  # >= 32 bytes
        self.env = child_env(
            {
                "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'telering.db'}",
                "WEB_NODE_HOST": "127.0.0.1",
                "WEB_NODE_PORT": str(self.port),
                "TELERING_GRANT_KEYS": self.key,
                "READINGS_PARTITIONS": str(PARTITIONS),
                # readings up to 30 d old feed the long windows: keep them (the default is 7d)
                "TELERING_RETENTION_RAW": TEST_RETENTION,
                "TELERING_RETENTION_ROLLUPS": TEST_RETENTION,
                **env,  # a test's own settings (e.g. TELERING_ALERT_RULES)
            }
        )
        self.proc: ManagedProcess | None = None
        self.starts = 0
        self.epoch = 0

    def start(self) -> WebNode:
        self.starts += 1
        self.proc = ManagedProcess(
            f"web{self.starts}", python_argv("web_node"), self.env, self.workdir / f"web{self.starts}.log"
        ).start()
        wait_healthy(self.url, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def store(self, readings: list[dict]) -> int:
        """Store readings the way receivers do: one batch per partition, each under a fresh grant."""
        stored = 0
        for receiver, batch in shares_by_receiver(readings, PARTITIONS):
            self.epoch += 1
            grant = GrantCodec([self.key]).sign(Grant(receiver, self.epoch, time.time() + 30))
            answer = requests.post(
                f"{self.url}/api/v1/batches",
                json={"readings": batch},
                headers={"Authorization": f"Bearer {grant}"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            stored += answer.json()["stored"]
        return stored


def at(seconds_ago: float, sensor: str, seq: int, **values: float) -> dict:
    """A valid reading measured `seconds_ago`."""
    ts = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return make_reading(sensor, seq, ts=ts.isoformat().replace("+00:00", "Z"), **values)


@contextmanager
def storing_live(web_node: WebNode, sensor: str) -> Iterator[list[int]]:
    """Store a reading of ``sensor`` every 0.2 s (as live data arrives) until the block ends;
    yields ``[n]``, how many were stored so far."""
    stop, stored = threading.Event(), [0]

    def store_live() -> None:
        while not stop.wait(0.2):
            seq = stored[0] + 1
            web_node.store([at(0, sensor, seq, temperature=12.0 + seq / 10)])
            stored[0] = seq

    storer = threading.Thread(target=store_live, daemon=True)
    storer.start()
    try:
        yield stored
    finally:
        stop.set()
        storer.join(10)


def exit_code_storing_live(
    dashboard: ManagedProcess, web_node: WebNode, sensor: str, timeout: float = 120.0
) -> tuple[int, int]:
    """Store live readings of ``sensor`` until the dashboard process exits: its exit code, and how
    many live readings were stored meanwhile (the process is killed if it outlasts ``timeout``,
    which then raises)."""
    try:
        with storing_live(web_node, sensor) as stored:
            assert dashboard.proc is not None
            return dashboard.proc.wait(timeout), stored[0]
    finally:
        dashboard.kill()
