"""GET /api/v1/sensors/{id}/readings.csv against a real web node whose readings went in through
POST /api/v1/batches, on SQLite and PostgreSQL: the CSV holds exactly the stored rows of the
range, oldest first; it streams (the first rows arrive before the last page is read); bad
requests are JSON errors."""

from __future__ import annotations

import asyncio
import csv
import io
import time

import aiohttp
import pytest

from protocol.readings import QUANTITIES
from tests.web_node.writes import Writer, iso, reading_at
from web_node.read import export
from web_node.read.params import parse_instant
from web_node.storage_errors import StorageError

T0 = 1_764_000_000.0
HEADER = ["ts", "unix_s", "sensor_id", "seq", *QUANTITIES]


async def fetch_csv(http, node, sensor_id: str, params=None) -> tuple[aiohttp.ClientResponse, list[list[str]]]:
    async with http.get(f"{node.url}/api/v1/sensors/{sensor_id}/readings.csv", params=params) as resp:
        body = await resp.text()
    return resp, list(csv.reader(io.StringIO(body)))


async def test_rows_equal_the_stored_readings_oldest_first(web_node_factory, http):
    node = await web_node_factory()
    readings = [
        reading_at("a", n, T0 + (n * 7919) % 500 + 0.123456, temperature=-20.0 + n / 7, humidity=n % 100 / 3)
        for n in range(500)
    ]  # stored out of time order (n -> n * 7919 % 500 is a permutation)
    readings.append(reading_at("a", 500, T0 + 3.123456))  # the same ts as an earlier one: store order breaks the tie
    readings += [reading_at("b", n, T0 + n) for n in range(50)]
    assert await Writer(http, node, batch=97).store(readings) == 551
    resp, rows = await fetch_csv(http, node, "a", {"since": str(T0 + 100), "until": iso(T0 + 400)})
    assert resp.status == 200 and resp.content_type == "text/csv" and resp.charset == "utf-8"
    assert rows[0] == HEADER
    expected = sorted(
        (r for r in readings if r["sensor_id"] == "a" and T0 + 100 <= _unix(r) < T0 + 400),
        key=lambda r: (_unix(r), r["seq"]),
    )
    assert len(expected) == 300 and len(rows) == 301
    for row, reading in zip(rows[1:], expected, strict=True):
        assert row[0] == reading["ts"] and float(row[1]) == pytest.approx(_unix(reading), abs=1e-6)
        assert row[2:4] == ["a", str(reading["seq"])]
        assert [float(v) for v in row[4:]] == [reading[q] for q in QUANTITIES]  # exact: repr of what is stored
    # the whole kept history without since/until; a range holding nothing is a header alone
    _, rows = await fetch_csv(http, node, "a")
    assert len(rows) == 502 and [float(r[1]) for r in rows[1:]] == sorted(float(r[1]) for r in rows[1:])
    resp, rows = await fetch_csv(http, node, "b", {"since": str(T0 + 1000)})
    assert (resp.status, rows) == (200, [HEADER])


async def test_many_rows_stream_in_pages(web_node_factory, http, monkeypatch):
    """12,345 rows in pages of 1,000. The export is held before its third page until the client
    has the first rows: an answer built whole before sending would never get there (timeout)."""
    monkeypatch.setattr(export, "EXPORT_PAGE_ROWS", 1000)
    node = await web_node_factory()
    now = time.time()
    assert await Writer(http, node).store([reading_at("big", n, now - 20_000 + n) for n in range(12_345)]) == 12_345
    pages_read, page, first_rows_arrived = [], export._page, asyncio.Event()

    async def held(*args, **kwargs):
        if len(pages_read) == 2:
            await asyncio.wait_for(first_rows_arrived.wait(), timeout=30)
        rows = await page(*args, **kwargs)
        pages_read.append(len(rows))
        return rows

    monkeypatch.setattr(export, "_page", held)
    async with http.get(f"{node.url}/api/v1/sensors/big/readings.csv") as resp:
        assert resp.status == 200 and resp.headers.get("Transfer-Encoding") == "chunked"
        first = await asyncio.wait_for(resp.content.readline(), timeout=30)
        second = await asyncio.wait_for(resp.content.readline(), timeout=30)
        assert len(pages_read) <= 2  # the client has rows; the export has not read the rest
        first_rows_arrived.set()
        rest = await resp.content.read()
    assert first.decode().rstrip("\r\n").split(",") == HEADER
    assert pages_read == [1000] * 12 + [345]
    seqs = [int(line.split(",")[3]) for line in [second.decode(), *rest.decode().splitlines()]]
    assert seqs == list(range(12_345))


async def test_a_failure_part_way_cuts_the_download(web_node_factory, http, monkeypatch):
    monkeypatch.setattr(export, "EXPORT_PAGE_ROWS", 100)
    node = await web_node_factory()
    assert await Writer(http, node).store([reading_at("a", n, T0 + n) for n in range(350)]) == 350
    page, calls = export._page, []

    async def failing_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise StorageError("database read failed: simulated")
        return await page(*args, **kwargs)

    monkeypatch.setattr(export, "_page", failing_third)
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.get(f"{node.url}/api/v1/sensors/a/readings.csv") as resp:
            assert resp.status == 200
            await resp.read()
    monkeypatch.setattr(export, "_page", page)
    _, rows = await fetch_csv(http, node, "a")  # the web node serves on
    assert len(rows) == 351


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/api/v1/sensors/nobody/readings.csv", 404, "unknown_sensor"),
        ("/api/v1/sensors/a/readings.csv?since=yesterday", 400, "invalid_parameter"),
        ("/api/v1/sensors/a/readings.csv?until=1e400", 400, "invalid_parameter"),
        ("/api/v1/sensors/a/readings.csv?limit=10", 400, "invalid_parameter"),
        ("/api/v1/sensors/a/readings.csv?since=1&since=2", 400, "invalid_parameter"),
        ("/api/v1/sensors/bad%20id/readings.csv", 400, "invalid_parameter"),
    ],
)
async def test_bad_requests_are_json_errors(web_node_factory, http, path, status, error):
    node = await web_node_factory()
    await Writer(http, node).store([reading_at("a", 0, T0)])
    async with http.get(f"{node.url}{path}") as resp:
        assert (resp.status, resp.content_type) == (status, "application/json")
        assert (await resp.json())["error"] == error


def _unix(reading: dict) -> float:
    return parse_instant(reading["ts"])
