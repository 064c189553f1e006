"""`GET /api/v1/sensors/{id}/readings.csv`: one sensor's kept readings in a range, as CSV.

Streamed in constant memory: rows are read in keyset pages of EXPORT_PAGE_ROWS (oldest first,
by ts then id), each page in its own short read (no transaction held open for the whole export,
so a long download never pins SQLite's WAL), and each page is written to the client before the
next is read (aiohttp's `write` waits while the client is slow).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence

from aiohttp import web
from sqlalchemy import Row, and_, or_, select

from protocol.readings import QUANTITIES, rfc3339
from web_node.appkeys import storage_key
from web_node.errors import ApiError
from web_node.read import params, queries
from web_node.read.reads import read_database
from web_node.storage_errors import StorageError

log = logging.getLogger(__name__)

EXPORT_PAGE_ROWS = 5000
CSV_COLUMNS = ("ts", "unix_s", "sensor_id", "seq", *QUANTITIES)
CSV_CONTENT_TYPE = "text/csv"

_readings = queries.readings
_COLUMNS = (
    _readings.c.id,
    _readings.c.sensor_id,
    _readings.c.seq,
    _readings.c.ts,
    *(_readings.c[q] for q in QUANTITIES),
)


async def readings_csv(request: web.Request) -> web.StreamResponse:
    """One sensor's readings with since <= ts < until, oldest first, as CSV with a header row."""
    sensor_id = params.sensor_id_value("id", request.match_info["id"])
    query = request.query
    params.check_names(query, ("since", "until"))
    since, until = params.instant(query, "since"), params.instant(query, "until")
    async with read_database(request) as conn:
        if not await queries.sensor_exists(conn, sensor_id):
            raise ApiError(404, "unknown_sensor", f"no reading of sensor {sensor_id!r} is stored", sensor_id=sensor_id)
    response = web.StreamResponse(
        headers={"Content-Disposition": f'attachment; filename="{sensor_id}.csv"', "Cache-Control": "no-store"}
    )
    response.content_type = CSV_CONTENT_TYPE
    response.charset = "utf-8"
    await response.prepare(request)
    await response.write(_csv([CSV_COLUMNS]))
    rows, after = 0, None
    while True:
        try:
            async with queries.read_connection(request.app[storage_key]) as conn:
                page = await _page(conn, sensor_id, since, until, after)
        except StorageError as exc:
            # the answer has begun (200): cut the connection, so the client sees an unfinished
            # body, never a short file that looks complete
            log.warning("%s %s: cut short after %d rows: %s", request.method, request.path, rows, exc)
            if request.transport is not None:
                request.transport.abort()
            return response
        if page:
            await response.write(_csv([_cells(row) for row in page]))
            rows += len(page)
            after = (page[-1].ts, page[-1].id)
        if len(page) < EXPORT_PAGE_ROWS:
            break
    await response.write_eof()
    return response


async def _page(conn, sensor_id: str, since: float | None, until: float | None, after: tuple[float, int] | None):
    stmt = select(*_COLUMNS).where(_readings.c.sensor_id == sensor_id)
    if since is not None:
        stmt = stmt.where(_readings.c.ts >= since)
    if until is not None:
        stmt = stmt.where(_readings.c.ts < until)
    if after is not None:
        ts, row_id = after
        stmt = stmt.where(or_(_readings.c.ts > ts, and_(_readings.c.ts == ts, _readings.c.id > row_id)))
    stmt = stmt.order_by(_readings.c.ts, _readings.c.id).limit(EXPORT_PAGE_ROWS)
    return list((await conn.execute(stmt)).all())


def _cells(row: Row) -> tuple:
    # repr-exact floats: the CSV holds what is stored, digit for digit
    return (rfc3339(row.ts), repr(row.ts), row.sensor_id, row.seq, *(repr(row._mapping[q]) for q in QUANTITIES))


def _csv(rows: Sequence[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()
