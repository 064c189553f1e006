"""The readings newly stored by any process of the web node, for its live clients.

A keyset poll on the stored rows (`WHERE id > last ORDER BY id`), every POLL_S and at once
when this process stored a batch itself (or the SQLite writer stored one it passed on), only
while the process has live clients, on the background readers' connections (`Storage.feeds`): it works
the same on SQLite and PostgreSQL, whichever process (or host) stored the rows.

Why `id` order is commit order, so that a row is never skipped: on SQLite there is one writer
at a time. On PostgreSQL several processes write, but every batch's transaction first raises
the fence (`UPDATE grant_fence ... WHERE id = 1`, web_node/write/fence.py), which holds that
row's lock until the commit: the inserts of two batches never overlap, so a batch's ids are
all taken, and committed, after those of the batch before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import TableClause, column, func, select, table

from protocol.readings import QUANTITIES
from web_node.alerts.engine import Transition
from web_node.alerts.live import AlertHub
from web_node.appkeys import alert_feed_key, change_feed_key, live_hub_key, storage_key
from web_node.read.live import LiveHub
from web_node.write.storage import Storage

log = logging.getLogger(__name__)

POLL_S = 0.15
PAGE_ROWS = 5000
_READINGS = table("readings", column("id"), column("sensor_id"), column("seq"), column("ts"), *map(column, QUANTITIES))
_TRANSITION_FIELDS = tuple(field.name for field in dataclasses.fields(Transition))
_TRANSITIONS = table("alert_transitions", column("seq"), *map(column, _TRANSITION_FIELDS))


class ChangeFeed:
    """Publishes to `hub` every row stored after its first client arrived, in key order: by default
    the readings (`id`), with `source` another table (its columns, the key first) and `publish`
    what the hub is given."""

    def __init__(
        self,
        storage: Storage,
        hub: LiveHub,
        *,
        source: TableClause | None = None,
        publish: Callable[[Sequence[Mapping[str, Any]]], None] | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self._storage = storage
        self._hub = hub
        self._source = source if source is not None else _READINGS
        self._key = next(iter(self._source.c))
        self._publish = publish or hub.publish
        self.poll_s = poll_s
        self._last: int | None = None  # the highest id published; None while nobody listens
        self._wake = asyncio.Event()
        self._started = asyncio.Lock()
        self.published = 0

    async def follow(self) -> None:
        """Before a client's handshake: make sure the feed follows from now on (nothing stored
        after this returns is missed)."""
        async with self._started:
            if self._last is None:
                self._last = await self._highest()
        self._wake.set()

    def wake(self) -> None:
        """This process stored a batch: poll now rather than at the next tick."""
        if self._last is not None:
            self._wake.set()

    async def run(self) -> None:
        while True:
            if not len(self._hub):
                self._last = None  # idle: nobody to publish to, nothing queried
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._last is None or not len(self._hub):
                continue
            try:
                while await self._publish_page():
                    pass
            except Exception:  # a database hiccup: the next tick retries from the same id
                log.exception("the live feed could not read the new readings")

    async def _publish_page(self) -> bool:
        """Publish the next page of new rows; True if there may be more."""
        assert self._last is not None
        page = select(*self._source.c).where(self._key > self._last).order_by(self._key).limit(PAGE_ROWS)
        async with self._storage.feeds.connect() as conn:
            rows = (await conn.execute(page)).mappings().all()
        if not rows:
            return False
        self._last = rows[-1][self._key.name]
        self._publish(rows)
        self.published += len(rows)
        return len(rows) == PAGE_ROWS

    async def _highest(self) -> int:
        async with self._storage.feeds.connect() as conn:
            return (await conn.execute(select(func.coalesce(func.max(self._key), 0)))).scalar_one()


async def change_feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the storage): the readings' feed lives with the application."""
    feed = ChangeFeed(app[storage_key], app[live_hub_key])
    app[change_feed_key] = feed
    async with _running(feed, "live-feed"):
        yield


@contextlib.asynccontextmanager
async def _running(feed: ChangeFeed, name: str) -> AsyncIterator[None]:
    task = asyncio.create_task(feed.run(), name=name)
    task.add_done_callback(_feed_ended)
    try:
        yield
    finally:
        task.remove_done_callback(_feed_ended)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def alert_feed_ctx(hub: AlertHub) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx: with several processes, the alert sockets of every process follow the recorded
    transitions (`alert_transitions`, by `seq`), whichever process recorded them."""

    async def feed_ctx(app: web.Application) -> AsyncIterator[None]:
        def publish(rows: Sequence[Mapping[str, Any]]) -> None:
            hub.publish_transitions([Transition(**{f: row[f] for f in _TRANSITION_FIELDS}) for row in rows])

        feed = ChangeFeed(app[storage_key], hub, source=_TRANSITIONS, publish=publish)
        app[alert_feed_key] = feed
        async with _running(feed, "alert-feed"):
            yield

    return feed_ctx


def _feed_ended(task: asyncio.Task[None]) -> None:
    # the loop catches what a poll raises: ending otherwise is a bug, and live clients would starve
    if not task.cancelled():
        log.critical("the live feed ended (%r): stopping this process", task.exception())
        os.kill(os.getpid(), signal.SIGTERM)
