"""rollups: readings_1m, readings_1h and sensor_summary, backfilled from the raw rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Per sensor 1-minute and 1-hour buckets (count, min/max/sum of each quantity) and a per-sensor
summary (web_node/write/rollups.py), filled here from the readings already stored by the same
statements the web node runs in every insert's transaction (INSERT ... SELECT ... GROUP BY).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from web_node.write.rollups import upsert_statements

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
    for statement in upsert_statements(op.get_bind().dialect.name, "readings"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("sensor_summary")
    for name in ("readings_1h", "readings_1m"):
        op.drop_index(f"ix_{name}_bucket", table_name=name)
        op.drop_table(name)
