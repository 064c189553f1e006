"""initial schema: readings and the grant fence

Revision ID: 0001
Revises:
Create Date: 2026-11-24

The schema the web node had before migrations existed (SQLModel `create_all` of
protocol.readings.Reading and web_node.write.fence.GrantFence); such a database is stamped at
this revision on first start, not re-created.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grant_fence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("receiver", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "readings",
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("humidity", sa.Float(), nullable=False),
        sa.Column("pressure", sa.Float(), nullable=False),
        sa.Column("battery", sa.Float(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("stored_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sensor_id", "seq", name="uq_readings_sensor_seq"),
    )
    op.create_index("ix_readings_sensor_ts", "readings", ["sensor_id", "ts"], unique=False)
    op.create_index("ix_readings_ts", "readings", ["ts"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_readings_ts", table_name="readings")
    op.drop_index("ix_readings_sensor_ts", table_name="readings")
    op.drop_table("readings")
    op.drop_table("grant_fence")
