"""testkit.integrity finds a reading counted twice: by the web node's stored counter or in a rollup.

Needs: a real web node on loopback with a real SQLite file, and a real PostgreSQL database (the
`database_url` fixture runs each test on both).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.engine import make_url

from testkit import database, integrity
from tests.support.web import make_reading, sensors_of_receiver, store


async def _store(http, node) -> None:
    """Two sensors' readings, then a replay of some: what a worker restarted after a crash sends."""
    first, second = sensors_of_receiver(0, n=2)
    batch = [make_reading(first, seq) for seq in range(6)] + [make_reading(second, seq) for seq in range(4)]
    for readings in (batch, batch[3:]):
        await store(http, node, readings)


async def _check(http, node, extra_count: int = 0) -> integrity.Doubles:
    async with http.get(f"{node.url}/metrics") as answer:
        counted = integrity.stored_counter(await answer.text())
    url = node.settings.database_url
    dialect = make_url(url).get_backend_name()
    return await asyncio.to_thread(
        integrity.check, lambda sql: database.query(url, sql), dialect, counted + extra_count
    )


async def test_what_the_web_node_stored_is_counted_once(web_node_factory, http):
    node = await web_node_factory()
    await _store(http, node)
    assert await _check(http, node) == integrity.Doubles()


async def test_a_rollup_applied_twice_is_reported(web_node_factory, http):
    node = await web_node_factory()
    await _store(http, node)
    first = sensors_of_receiver(0, n=2)[0]
    # what a replay merged into the minute rollup a second time would leave
    await asyncio.to_thread(
        database.query,
        node.settings.database_url,
        "UPDATE readings_1m SET count = count * 2 WHERE sensor_id = ?",
        (first,),
    )
    doubles = await _check(http, node)
    assert doubles.excess == 6, doubles
    assert {m.split(" @")[0] for m in doubles.mismatches} == {f"readings_1m {first}"}, doubles


async def test_a_web_node_counting_more_than_it_stored_is_reported(web_node_factory, http):
    node = await web_node_factory()
    await _store(http, node)
    doubles = await _check(http, node, extra_count=3)
    assert doubles.mismatches == ["the web node's stored counter: counted 13, rows 10"]
    assert doubles.excess == 3


def test_assert_exactly_once_fails_on_a_double():
    summary = {"failed": 0, "sent_valid": 2, "per_sensor": {"s": {"sent": 2}}}
    keys = [("s", 0), ("s", 1)]
    integrity.assert_exactly_once(integrity.tally("clean", [summary], keys, integrity.Doubles()))
    doubled = integrity.Doubles()
    doubled.add("readings_1h s @0", 3, 2)
    with pytest.raises(AssertionError, match="readings_1h s @0: counted 3, rows 2"):
        integrity.assert_exactly_once(integrity.tally("doubled", [summary], keys, doubled))
