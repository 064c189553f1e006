"""rollups: readings_1m, readings_1h and sensor_summary, backfilled from the raw rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Per sensor 1-minute and 1-hour buckets (count, min/max/sum of each quantity) and a per-sensor
summary (web_node/rollups.py), filled here from the readings already stored by the same
statements the web node runs in every insert's transaction (INSERT ... SELECT ... GROUP BY).

The summary describes the readings kept: a trigger on deleting readings (retention) takes them
off its count and first ts, and drops a sensor with none left. Rollups outlive raw rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from web_node.rollups import upsert_statements

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUANTITIES = ("temperature", "humidity", "pressure", "battery")


def _rollup(name: str) -> None:
    op.create_table(
        name,
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        *(sa.Column(f"{stat}_{q}", sa.Double(), nullable=False) for q in QUANTITIES for stat in ("min", "max", "sum")),
        sa.PrimaryKeyConstraint("sensor_id", "bucket"),
    )
    op.create_index(f"ix_{name}_bucket", name, ["bucket"], unique=False)


def upgrade() -> None:
    _rollup("readings_1m")
    _rollup("readings_1h")
    op.create_table(
        "sensor_summary",
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_ts", sa.Double(), nullable=False),
        sa.Column("last_ts", sa.Double(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        *(sa.Column(f"last_{q}", sa.Double(), nullable=False) for q in QUANTITIES),
        sa.PrimaryKeyConstraint("sensor_id"),
    )
    for statement in upsert_statements(_dialect(), "readings"):
        op.execute(statement)
    _create_trigger(_dialect())


def _dialect() -> str:
    return op.get_bind().dialect.name


# SQLite: per deleted row; the new first ts is one step along ix_readings_sensor_ts
_SQLITE_TRIGGER = """
CREATE TRIGGER readings_expired AFTER DELETE ON readings FOR EACH ROW BEGIN
    UPDATE sensor_summary SET count = count - 1,
        first_ts = coalesce((SELECT min(ts) FROM readings WHERE sensor_id = OLD.sensor_id), first_ts)
        WHERE sensor_id = OLD.sensor_id;
    DELETE FROM sensor_summary WHERE sensor_id = OLD.sensor_id AND count <= 0;
END
"""
# PostgreSQL: once per DELETE statement, over the rows it deleted
_PG_FUNCTION = """
CREATE FUNCTION telering_readings_expired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sensor_summary AS s SET count = s.count - g.n,
        first_ts = coalesce((SELECT min(r.ts) FROM readings AS r WHERE r.sensor_id = s.sensor_id), s.first_ts)
        FROM (SELECT sensor_id, count(*) AS n FROM gone GROUP BY sensor_id) AS g
        WHERE s.sensor_id = g.sensor_id;
    DELETE FROM sensor_summary WHERE count <= 0 AND sensor_id IN (SELECT sensor_id FROM gone);
    RETURN NULL;
END
$$
"""
_PG_TRIGGER = (
    "CREATE TRIGGER readings_expired AFTER DELETE ON readings REFERENCING OLD TABLE AS gone "
    "FOR EACH STATEMENT EXECUTE FUNCTION telering_readings_expired()"
)


def _create_trigger(dialect: str) -> None:
    if dialect == "sqlite":
        op.execute(_SQLITE_TRIGGER)
    else:
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS readings_expired" + ("" if _dialect() == "sqlite" else " ON readings"))
    if _dialect() != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS telering_readings_expired()")
    op.drop_table("sensor_summary")
    for name in ("readings_1h", "readings_1m"):
        op.drop_index(f"ix_{name}_bucket", table_name=name)
        op.drop_table(name)
