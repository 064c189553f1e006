"""The readings newly stored by any process of the web node, for its live clients.

A keyset poll on the stored rows (`WHERE id > last ORDER BY id`), every POLL_S and at once
when this process stored a batch itself, only while the process has live clients: it works
the same on SQLite and PostgreSQL, whichever process (or host) stored the rows.

Why `id` order is commit order, so that a row is never skipped: on SQLite there is one writer
at a time. On PostgreSQL several processes write, but every batch's transaction first raises
the fence (`UPDATE grant_fence ... WHERE id = 1`, web_node/write/fence.py), which holds that
row's lock until the commit: the inserts of two batches never overlap, so a batch's ids are
all taken, and committed, after those of the batch before it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import column, func, select, table

from protocol.readings import QUANTITIES
from web_node.appkeys import change_feed_key, live_hub_key, storage_key
from web_node.read.live import LiveHub
from web_node.write.storage import Storage

log = logging.getLogger(__name__)

POLL_S = 0.15
PAGE_ROWS = 5000
_READINGS = table("readings", column("id"), column("sensor_id"), column("seq"), column("ts"), *map(column, QUANTITIES))


class ChangeFeed:
    """Publishes to `hub` every reading stored after its first client arrived, in id order."""

    def __init__(self, storage: Storage, hub: LiveHub, *, poll_s: float = POLL_S) -> None:
        self._storage = storage
        self._hub = hub
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
        async with self._storage.reader.connect() as conn:
            rows = (await conn.execute(_page(self._last))).mappings().all()
        if not rows:
            return False
        self._last = rows[-1]["id"]
        self._hub.publish(rows)
        self.published += len(rows)
        return len(rows) == PAGE_ROWS

    async def _highest(self) -> int:
        async with self._storage.reader.connect() as conn:
            return (await conn.execute(select(func.coalesce(func.max(_READINGS.c.id), 0)))).scalar_one()


def _page(last: int):
    return select(*_READINGS.c).where(_READINGS.c.id > last).order_by(_READINGS.c.id).limit(PAGE_ROWS)


async def change_feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the storage): the feed's task lives with the application."""
    feed = ChangeFeed(app[storage_key], app[live_hub_key])
    app[change_feed_key] = feed
    task = asyncio.create_task(feed.run(), name="live-feed")
    task.add_done_callback(_feed_ended)
    yield
    task.remove_done_callback(_feed_ended)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _feed_ended(task: asyncio.Task[None]) -> None:
    # the loop catches what a poll raises: ending otherwise is a bug, and live clients would starve
    if not task.cancelled():
        log.critical("the live feed ended (%r): stopping this process", task.exception())
        os.kill(os.getpid(), signal.SIGTERM)
