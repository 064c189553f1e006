"""The alert tables (migration 0003): states, per-sensor progress, the transition outbox, sink cursors.

Times are unix seconds (Double), as in `readings`. `alert_transitions.seq` is the outbox order
every sink follows; `id` is what a consumer de-duplicates on.
"""

from __future__ import annotations

from sqlalchemy import Double, Index, Integer, Text
from sqlmodel import Field, SQLModel


class AlertStateRow(SQLModel, table=True):
    """One (rule, sensor)'s state; a row exists once the pair has left `ok` at least once."""

    __tablename__ = "alert_state"

    rule: str = Field(primary_key=True, max_length=64)
    sensor_id: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=8)
    since: float = Field(sa_type=Double)
    pending_since: float | None = Field(default=None, sa_type=Double)
    value: float | None = Field(default=None, sa_type=Double)
    threshold: float | None = Field(default=None, sa_type=Double)


class AlertSensor(SQLModel, table=True):
    """Per sensor: the newest reading ts judged, and when a reading of it was last stored (wall clock)."""

    __tablename__ = "alert_sensor"

    sensor_id: str = Field(primary_key=True, max_length=64)
    last_ts: float = Field(sa_type=Double)
    stored_at: float = Field(sa_type=Double)


class AlertTransition(SQLModel, table=True):
    """Every transition, once, in the order recorded (`seq`)."""

    __tablename__ = "alert_transitions"
    __table_args__ = (
        Index("ix_alert_transitions_ts", "ts"),
        Index("ix_alert_transitions_sensor_ts", "sensor_id", "ts"),
    )

    seq: int | None = Field(default=None, primary_key=True, sa_type=Integer)
    id: str = Field(max_length=32, unique=True)
    rule: str = Field(max_length=64)
    sensor_id: str = Field(max_length=64)
    severity: str = Field(max_length=8)
    from_state: str = Field(max_length=8)
    to_state: str = Field(max_length=8)
    value: float | None = Field(default=None, sa_type=Double)
    threshold: float | None = Field(default=None, sa_type=Double)
    ts: float = Field(sa_type=Double)
    at: float = Field(sa_type=Double)
    summary: str = Field(sa_type=Text)


class AlertCursor(SQLModel, table=True):
    """Per sink (the Kafka topic, each Alertmanager URL): the last `seq` it was given."""

    __tablename__ = "alert_cursor"

    sink: str = Field(primary_key=True, max_length=512)
    seq: int = Field(default=0, sa_type=Integer)
