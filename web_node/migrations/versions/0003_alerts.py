"""alerts: alert_state, alert_sensor, alert_transitions (the outbox) and alert_cursor

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

The tables of web_node/alerts/tables.py, written in the same transaction as the batch whose
readings caused them (docs/alerts-design.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("since", sa.Double(), nullable=False),
        sa.Column("pending_since", sa.Double(), nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("rule", "sensor_id"),
    )
    op.create_table(
        "alert_sensor",
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("last_ts", sa.Double(), nullable=False),
        sa.Column("stored_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("sensor_id"),
    )
    op.create_table(
        "alert_transitions",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("from_state", sa.String(length=8), nullable=False),
        sa.Column("to_state", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_alert_transitions_ts", "alert_transitions", ["ts"], unique=False)
    op.create_index("ix_alert_transitions_sensor_ts", "alert_transitions", ["sensor_id", "ts"], unique=False)
    op.create_table(
        "alert_cursor",
        sa.Column("sink", sa.String(length=512), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sink"),
    )


def downgrade() -> None:
    op.drop_table("alert_cursor")
    op.drop_index("ix_alert_transitions_sensor_ts", table_name="alert_transitions")
    op.drop_index("ix_alert_transitions_ts", table_name="alert_transitions")
    op.drop_table("alert_transitions")
    op.drop_table("alert_sensor")
    op.drop_table("alert_state")
