"""PostgreSQL write path: COPY the batch into a temporary table, then one statement inserts
what is new and merges exactly those rows into the rollups (data-modifying CTEs), inside the
caller's transaction (the one that raised the fence).

It talks to asyncpg directly, past SQLAlchemy, so asyncpg's own errors are mapped here; this
module is imported only for a PostgreSQL DATABASE_URL (asyncpg is the `postgres` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.quantities import QUANTITIES
from web_node.storage_errors import storage_errors
from web_node.write import marks
from web_node.write.rollups import SOURCE_COLUMNS, STORED_COLUMNS, bucket_start, stored_values, upsert_statements

_TEMP = "telering_incoming"
_CREATE_TEMP = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_TEMP} (sensor_id text NOT NULL, seq bigint NOT NULL, "
    + ", ".join(f"{c} double precision NOT NULL" for c in ("ts", *QUANTITIES, "stored_at"))
    + ") ON COMMIT DELETE ROWS"
)

_COLUMNS = ", ".join(STORED_COLUMNS)
# the one statement of a batch: the insert, then the rollups merged from the rows it returned
_INSERT = (
    f"WITH inserted AS (INSERT INTO readings ({_COLUMNS}) SELECT {_COLUMNS} FROM {_TEMP} "
    f"ON CONFLICT (sensor_id, seq) DO NOTHING RETURNING {', '.join(SOURCE_COLUMNS)})"
    + "".join(f", rollup_{i} AS ({sql})" for i, sql in enumerate(upsert_statements("postgresql", "inserted")))
    + f", marked AS ({marks.bump_from('inserted', bucket_start('postgresql', 'ts', marks.HOUR_S))})"
    + " SELECT sensor_id, seq FROM inserted"
)


async def insert(conn: AsyncConnection, rows: Sequence[dict[str, Any]], now: float) -> set[tuple[str, int]] | None:
    """Insert and roll up in `conn`'s open transaction; the keys inserted, or None if all were."""
    driver = (await conn.get_raw_connection()).driver_connection  # the asyncpg connection
    with storage_errors("write", asyncpg.PostgresError):
        await driver.execute(_CREATE_TEMP)
        records = [stored_values(r, now) for r in rows]
        await driver.copy_records_to_table(_TEMP, records=records, columns=STORED_COLUMNS)
        await driver.execute(marks.PG_LOCK)  # marks in commit order (web_node/write/marks.py)
        inserted = await driver.fetch(_INSERT)
    if len(inserted) == len(rows):
        return None
    return {(row[0], row[1]) for row in inserted}
