"""The epoch fence at the storage layer, on SQLite (the writer thread) and on PostgreSQL (the
async engine): both run web_node/write/fence.py's SQL. A refused grant stores nothing and says which
grant the fence holds; the same receiver may go on at the fenced epoch, a rival may not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocol.readings import Reading
from tests.support.web import make_reading
from web_node.storage_errors import StorageError
from web_node.write.fence import GrantSuperseded
from web_node.write.storage import Storage


def _reading(seq: int) -> dict:
    reading = make_reading("fence-0", seq)
    return {**reading, "ts": datetime.fromisoformat(reading["ts"].replace("Z", "+00:00")).astimezone(UTC)}


async def _count(storage: Storage) -> int:
    async with storage.reader.connect() as conn:
        return (await conn.exec_driver_sql(f"SELECT count(*) FROM {Reading.__tablename__}")).scalar_one()


async def test_the_fence_refuses_older_epochs_and_rivals_on_both_backends(database_url):
    storage = Storage(database_url)
    await storage.open()
    try:
        assert (await storage.store([_reading(0)], epoch=5, receiver=0)).stored
        assert (await storage.store([_reading(1)], epoch=5, receiver=0)).stored  # its own turn goes on
        for epoch, receiver in ((4, 0), (4, 1), (5, 1)):  # older, or a rival at the fenced epoch
            with pytest.raises(GrantSuperseded) as refused:
                await storage.store([_reading(10 + epoch + receiver)], epoch=epoch, receiver=receiver)
            assert (refused.value.epoch, refused.value.receiver) == (5, 0)
            assert not isinstance(refused.value, StorageError)  # the database answered: no outage
        assert await _count(storage) == 2, "a refused grant stored something"
        assert (await storage.store([_reading(2)], epoch=6, receiver=1)).stored
        with pytest.raises(GrantSuperseded):
            await storage.store([], epoch=5, receiver=0)  # an empty batch is fenced too
        assert storage.fence_epoch == 6 and await _count(storage) == 3
    finally:
        await storage.close()
