"""The epoch fence: its table, its SQL and its one refusal, `GrantSuperseded`.

A grant may write if its epoch is above the fence, or equal to it for the same receiver (its
own turn, batch after batch); raising the fence and inserting are one transaction, so a refused
grant stores nothing. Both write paths run the same SQL: SQLite's writer thread (sqlite3's
named parameters) and PostgreSQL's async engine (SQLAlchemy `text`)."""

from __future__ import annotations

import sqlite3

from sqlalchemy import BigInteger, Column, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field, SQLModel

RAISE = (
    "UPDATE grant_fence SET epoch = :epoch, receiver = :receiver, updated_at = :now "
    "WHERE id = 1 AND (epoch < :epoch OR (epoch = :epoch AND receiver = :receiver))"
)
HELD = "SELECT epoch, receiver FROM grant_fence WHERE id = 1"
# the one row, made on first start: no grant accepted yet
_CREATE = "INSERT INTO grant_fence (id, epoch, receiver, updated_at) VALUES (1, 0, -1, 0.0) ON CONFLICT (id) DO NOTHING"


class GrantFence(SQLModel, table=True):
    """The highest grant the web node has accepted (one row): the fencing token."""

    __tablename__ = "grant_fence"

    id: int = Field(default=1, primary_key=True)
    epoch: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    receiver: int = -1
    updated_at: float = 0.0


class GrantSuperseded(Exception):
    """The fence holds a newer grant (or a rival's at the same epoch): `epoch` and `receiver` are
    the held one's. Not a storage error: the database answered, the grant lost."""

    def __init__(self, epoch: int, receiver: int) -> None:
        super().__init__(f"a newer grant (epoch {epoch}, receiver {receiver}) was already accepted")
        self.epoch, self.receiver = epoch, receiver


def raise_in_sqlite(conn: sqlite3.Connection, *, epoch: int, receiver: int, now: float) -> None:
    """Raise the fence in `conn`'s open transaction, or GrantSuperseded (nothing changed)."""
    if conn.execute(RAISE, {"epoch": epoch, "receiver": receiver, "now": now}).rowcount != 1:
        raise GrantSuperseded(*conn.execute(HELD).fetchone())


async def raise_in(conn: AsyncConnection, *, epoch: int, receiver: int, now: float) -> None:
    """The same in an async engine's open transaction."""
    accepted = await conn.execute(text(RAISE), {"epoch": epoch, "receiver": receiver, "now": now})
    if accepted.rowcount != 1:
        row = (await conn.execute(text(HELD))).one()
        raise GrantSuperseded(row.epoch, row.receiver)


async def held_epoch(conn: AsyncConnection) -> int:
    """The epoch the fence holds (its row made if the database is new)."""
    await conn.execute(text(_CREATE))
    return (await conn.execute(text(HELD))).one().epoch
