"""change_marks: per hour of reading time, the last change to what is stored in it

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

The write path (a batch, a retention round) sets `mark` of every hour it changed to one more
than the highest mark, in its own transaction; readers poll `mark >= the highest they saw` to
drop cached stats of changed hours (web_node/read/stats_cache.py) and to tag answers (ETag).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_marks",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("mark", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour"),
    )
    op.create_index("ix_change_marks_mark", "change_marks", ["mark"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_change_marks_mark", table_name="change_marks")
    op.drop_table("change_marks")
