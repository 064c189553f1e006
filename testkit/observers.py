"""Watching a running pipeline from outside: the token topic live, the web node's fence, the
readings backlog, and what the workers' logs say about who owns which receiver.

Fault scenarios use these to wait on conditions ("a grant with a higher epoch appeared", "the
stored count caught up with the topic") and to collect the evidence they report.
"""

from __future__ import annotations

import bisect
import itertools
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from protocol.keyring import Keyring
from protocol.token_messages import GrantMessage, Release, TokenMessage, TokenMessageInvalid, decode, signature_of
from stream_app.freshness import Freshness
from testkit.processes import ManagedProcess, health
from testkit.waiting import eventually

T = TypeVar("T")
RENEW_AFTER_S = 10.0  # a token watcher making no progress this long renews its consumer
PROBE_TIMEOUT_MS = 10_000
_REFUSED = re.compile(r'^telering_batches_refused_total\{reason="([^"]+)"\} (\S+)$', re.M)


@dataclass(frozen=True)
class TokenRecord:
    offset: int
    at: float  # the broker's timestamp, unix seconds
    message: TokenMessage


class TokenWatcher:
    """Every message of the token topic, as it arrives (a consumer on a background thread).

    With a `keyring`, only the messages a worker would act on (signed with one of its keys, and
    with `app` also of that deployment and each its sender's newest): what the ring really did,
    whatever else a hostile client wrote to the topic. `options`: kafka-python connection
    options of a secured cluster."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        keyring: Keyring | None = None,
        options: Mapping[str, Any] | None = None,
        app: str | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._keyring = keyring
        self._freshness = Freshness(app) if keyring is not None and app is not None else None
        self._options = options
        self._tp = TopicPartition(topic, 0)
        self._records: list[TokenRecord] = []
        self._offsets: list[int] = []
        self._next_offset = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renew = threading.Event()  # set by sync(): the thread's consumer seems stuck
        self._thread = threading.Thread(target=self._run, name=f"token-watcher-{topic}", daemon=True)
        self._probe = _Renewing(bootstrap, options)

    def __enter__(self) -> TokenWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._probe.close()

    def records(self) -> list[TokenRecord]:
        with self._lock:
            return list(self._records)

    def grants(self, after_offset: int = -1) -> list[GrantMessage]:
        return [r.message for r in self.records() if r.offset > after_offset and isinstance(r.message, GrantMessage)]

    def releases(self, after_offset: int = -1) -> list[Release]:
        return [r.message for r in self.records() if r.offset > after_offset and isinstance(r.message, Release)]

    def first(self, predicate: Callable[[TokenMessage], bool], after: int = -1) -> TokenRecord | None:
        """The first record after offset `after` whose message satisfies `predicate`."""
        with self._lock:
            start = bisect.bisect_right(self._offsets, after)
            return next((r for r in self._records[start:] if predicate(r.message)), None)

    @property
    def last_offset(self) -> int:
        with self._lock:
            return self._next_offset - 1

    def sync(self, timeout: float = 60.0) -> None:
        """Return once every message on the topic *now* has been seen.

        A kafka-python client that lived through a broker's restart can stay stuck on it (on a
        TLS cluster it kept failing the handshake with the restarted broker while fresh clients
        worked), so the probe is renewed after a failed request, and the watcher's consumer
        when it makes no progress towards the end for RENEW_AFTER_S."""
        end = eventually(self._end_offset, timeout=timeout, interval=0.5, retry_on=(KafkaError,))
        progress = [self._next_offset, time.monotonic()]  # the offset seen last, and since when

        def caught_up() -> bool:
            if self._next_offset >= end:
                return True
            if self._next_offset > progress[0]:
                progress[:] = [self._next_offset, time.monotonic()]
            elif time.monotonic() - progress[1] > RENEW_AFTER_S:
                self._renew.set()
                progress[1] = time.monotonic()
            return False

        eventually(caught_up, timeout=timeout, message="token watcher lagging")

    def _end_offset(self) -> int:
        return self._probe.ask(lambda c: c.end_offsets([self._tp], timeout_ms=PROBE_TIMEOUT_MS)[self._tp])

    def _run(self) -> None:
        while not self._stop.is_set():
            self._renew.clear()
            try:
                consumer = _consumer(self._bootstrap, options=self._options)
            except KafkaError:  # no broker answered: try again
                self._stop.wait(0.5)  # back-off before the next client, or stop
                continue
            try:
                consumer.assign([self._tp])
                if self._next_offset:  # a renewed consumer goes on where the last one stopped
                    consumer.seek(self._tp, self._next_offset)
                else:
                    consumer.seek_to_beginning(self._tp)
                while not self._stop.is_set() and not self._renew.is_set():
                    try:
                        batches = consumer.poll(timeout_ms=100)
                    except KafkaError:
                        continue  # e.g. the broker is restarting: keep polling
                    for record in (r for batch in batches.values() for r in batch):
                        self._add(record)
            finally:
                consumer.close()

    def _add(self, record) -> None:  # type: ignore[no-untyped-def]
        try:
            message = decode(record.value)
        except (ValueError, TypeError):
            message = None
        signature = signature_of(record.headers)
        if self._keyring is not None and not self._keyring.verify_message(record.value or b"", signature):
            message = None
        if message is not None and self._freshness is not None:
            try:
                self._freshness.check(message.origin, record.timestamp / 1000)
            except TokenMessageInvalid:
                message = None
        with self._lock:
            if message is not None:
                self._records.append(TokenRecord(record.offset, record.timestamp / 1000, message))
                self._offsets.append(record.offset)
            self._next_offset = record.offset + 1


class FenceWatcher:
    """Polls the web node's persisted fence (`grant_fence`) and records every change."""

    def __init__(self, db_path: Path, interval: float = 0.05) -> None:
        self._db_path = db_path
        self._interval = interval
        self.history: list[tuple[float, int, int]] = []  # (time, epoch, receiver)
        self._stop = threading.Event()
        self._reading = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fence-watcher", daemon=True)

    def __enter__(self) -> FenceWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def epoch(self) -> int:
        return self.history[-1][1] if self.history else 0

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No poll in flight or started meanwhile: a count taken inside is the file's only reader,
        so SQLite recovers the WAL of a writer killed mid-commit before answering it."""
        with self._reading:
            yield

    def regressions(self) -> list[tuple[int, int]]:
        """(before, after) for every time the persisted fence went down: must be empty."""
        epochs = [e for _, e, _ in self.history]
        return [(a, b) for a, b in itertools.pairwise(epochs) if b < a]

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._reading:
                row = self._read()
            if row is not None and (not self.history or self.history[-1][1:] != row):
                self.history.append((time.time(), *row))

    def _read(self) -> tuple[int, int] | None:
        if not self._db_path.exists():
            return None
        try:
            with closing(sqlite3.connect(f"file:{self._db_path}?mode=ro", uri=True, timeout=1)) as conn:
                row = conn.execute("SELECT epoch, receiver FROM grant_fence WHERE id = 1").fetchone()
        except sqlite3.Error:
            return None
        return (int(row[0]), int(row[1])) if row else None


class TopicCounter:
    """How many messages the `readings` topic holds, and how many a group has not committed."""

    def __init__(self, bootstrap: str, topic: str, group: str, options: Mapping[str, Any] | None = None) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._group = group
        self._options = options
        self._consumer = _Renewing(bootstrap, options)

    def close(self) -> None:
        self._consumer.close()

    def _partitions(self) -> list[TopicPartition]:
        parts = self._consumer.ask(lambda c: c.partitions_for_topic(self._topic)) or set()
        return [TopicPartition(self._topic, p) for p in sorted(parts)]

    def messages(self) -> int:
        tps = self._partitions()
        return sum(self._consumer.ask(lambda c: c.end_offsets(tps)).values()) if tps else 0

    def uncommitted(self) -> int:
        """Messages past the group's committed offsets: read but not yet acked, or not read."""
        tps = self._partitions()
        group = _consumer(self._bootstrap, group_id=self._group, options=self._options)
        try:
            committed = {tp: group.committed(tp) or 0 for tp in tps}
        finally:
            group.close()
        end = self._consumer.ask(lambda c: c.end_offsets(tps))  # after the commits: never behind them, sum >= 0
        return sum(end[tp] - committed[tp] for tp in tps)


def refusals(web_url: str) -> Counter[str]:
    """Batches the web node refused so far, by error code (its `/metrics`)."""
    text = requests.get(f"{web_url}/metrics", timeout=10).text
    return Counter({code: float(n) for code, n in _REFUSED.findall(text)})


def owned(proc: ManagedProcess) -> set[int] | None:
    """The receivers the worker owns (its /healthz), None unless it answers and is in its group."""
    answer = health(proc)
    if answer is None or not answer[1].get("checks", {}).get("receivers_group"):
        return None
    return set(answer[1].get("receivers", ()))


def leads(proc: ManagedProcess, app_id: str = "") -> bool:
    """Whether the worker runs the coordinator (its /healthz says it leads Faust's group)."""
    answer = health(proc)
    return answer is not None and bool(answer[1].get("leader"))


def wait_split(workers: list[ManagedProcess], partitions: int, app_id: str, timeout: float = 60.0) -> ManagedProcess:
    """Wait until the live workers share all receivers (each owning some) and one of them leads;
    returns the leader."""

    def settled() -> ManagedProcess | None:
        owners = [owned(w) for w in workers]
        if any(not o for o in owners) or any(not w.alive for w in workers):
            return None
        if sum(len(o) for o in owners) != partitions or set().union(*owners) != set(range(partitions)):
            return None
        leaders = [w for w in workers if leads(w, app_id)]
        return leaders[0] if len(leaders) == 1 else None

    return eventually(
        settled,
        timeout=timeout,
        interval=0.2,
        message=f"workers {[w.name for w in workers]} never shared the receivers",
    )


class _Renewing:
    """A kafka-python consumer for metadata and offset requests, replaced after a failed one.

    A client that lived through a broker's restart can stay stuck on it (on the TLS cluster it
    kept failing its handshakes with the restarted broker while fresh clients worked)."""

    def __init__(self, bootstrap: str, options: Mapping[str, Any] | None) -> None:
        self._bootstrap = bootstrap
        self._options = options
        self._client: KafkaConsumer | None = None

    def ask(self, request: Callable[[KafkaConsumer], T]) -> T:
        if self._client is None:
            self._client = _consumer(self._bootstrap, options=self._options)
        try:
            return request(self._client)
        except KafkaError:
            self.close()  # the next request opens a fresh client
            raise

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except KafkaError:
                pass


def _consumer(bootstrap: str, group_id: str | None = None, options: Mapping[str, Any] | None = None) -> KafkaConsumer:
    """`options`: kafka-python connection options of a secured cluster (PipelineHarness.kafka_options)."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        **{k: v for k, v in (options or {}).items() if k != "bootstrap_servers"},
        group_id=group_id,
        enable_auto_commit=False,
        request_timeout_ms=20_000,
        reconnect_backoff_max_ms=1000,
        fetch_max_wait_ms=100,
    )
