"""The epoch fence both write paths raise, in the same SQL: SQLite's writer thread (sqlite3's
named parameters) and PostgreSQL's async engine (SQLAlchemy `text`).

A grant may write if its epoch is above the fence, or equal to it for the same receiver (its
own turn, batch after batch); raising the fence and inserting are one transaction."""

from __future__ import annotations

RAISE = (
    "UPDATE grant_fence SET epoch = :epoch, receiver = :receiver, updated_at = :now "
    "WHERE id = 1 AND (epoch < :epoch OR (epoch = :epoch AND receiver = :receiver))"
)
HELD = "SELECT epoch, receiver FROM grant_fence WHERE id = 1"


class FenceRefused(Exception):
    """The fence holds a newer grant: (epoch, receiver) of the one it holds."""

    def __init__(self, epoch: int, receiver: int) -> None:
        super().__init__(epoch, receiver)
        self.epoch, self.receiver = epoch, receiver
