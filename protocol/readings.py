"""The Reading schema: one definition of every field's type and range (DESIGN.md, Reading).

The family (STYLE.md, 5): `Measurements` (the four quantities with the ranges, units and titles
of protocol/quantities.py), `ReadingKey` (sensor_id, seq), `ReadingBase` (every field of a
reading), `ReadingIn` (what a sensor sends: strict, not from the future), `ReadingOut` (what the
web node answers and pushes: `reading_out` renders it from a stored row without building a
model), and `Reading`, the storage table (the key and the quantities, `ts` in unix seconds).
Each field is defined once.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    ConfigDict,
    PlainSerializer,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import CoreConfig, CoreSchema, SchemaValidator
from sqlalchemy import BigInteger, Column, Double, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from protocol.quantities import QUANTITIES as QUANTITIES  # re-exported: the field order of Measurements
from protocol.quantities import QUANTITY

SENSOR_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
MAX_SEQ = 2**63 - 1
MAX_FUTURE_S = 300.0
# A compact reading is ~200 bytes of JSON: this leaves room for long ids and many digits.
BYTES_PER_READING = 400
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")

SensorId = Annotated[str, StringConstraints(pattern=SENSOR_ID_PATTERN, min_length=1, max_length=64)]


def rfc3339(ts: float | datetime) -> str:
    """`2026-11-24T14:00:00.123456Z`: UTC, always six fractional digits (docs/API.md)."""
    if not isinstance(ts, datetime):
        ts = datetime.fromtimestamp(ts, tz=UTC)
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# A timestamp in an answer: parsed from RFC 3339 (or unix seconds), written by `rfc3339`.
UtcTimestamp = Annotated[
    AwareDatetime,
    Strict(False),
    PlainSerializer(rfc3339, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC, six fractional digits",
            "examples": ["2026-11-24T14:00:00.123456Z"],
        }
    ),
]


def _measured(name: str) -> Any:
    """A quantity's field as protocol/quantities.py declares it: range, unit (the description), title."""
    quantity = QUANTITY[name]
    return Field(ge=quantity.low, le=quantity.high, description=quantity.unit, title=quantity.title)


class Measurements(SQLModel):
    """The four measured quantities with their physical ranges; `description` is the unit."""

    temperature: float = _measured("temperature")
    humidity: float = _measured("humidity")
    pressure: float = _measured("pressure")
    battery: float = _measured("battery")


class ReadingKey(SQLModel):
    """Which reading: the sensor and its own sequence number (the table's unique key)."""

    sensor_id: SensorId = Field(max_length=64)  # the length also sizes the column
    seq: int = Field(ge=0, le=MAX_SEQ, sa_type=BigInteger)


class _Measured(ReadingKey):
    """When the reading was measured, as the API carries it (a timestamp; the table keeps unix seconds)."""

    ts: Annotated[datetime, Strict(False)]


class ReadingBase(Measurements, _Measured):
    """Every field of a reading (sensor_id, seq, ts, then the quantities), each typed and ranged once."""


class ReadingIn(ReadingBase):
    """A reading as a sensor sends it: strict types, no extra fields, no NaN, not from the future."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @field_validator("ts", mode="before")
    @classmethod
    def _rfc3339_text(cls, ts: object) -> object:
        if isinstance(ts, datetime):
            return ts
        if not isinstance(ts, str) or not _RFC3339.match(ts):
            raise ValueError("ts must be an RFC 3339 timestamp string")
        return ts

    @field_validator("ts")
    @classmethod
    def _utc_not_future(cls, ts: datetime) -> datetime:
        if ts.tzinfo is None:
            raise ValueError("ts must carry a UTC offset (RFC 3339)")
        try:
            ts = ts.astimezone(UTC)
        except OverflowError:  # e.g. year 1 at +14:00: its UTC form is before year 1
            raise ValueError("ts is outside the range of representable dates") from None
        if ts.timestamp() > time.time() + MAX_FUTURE_S:
            raise ValueError(f"ts {ts.isoformat()} is more than {MAX_FUTURE_S:.0f} s in the future")
        return ts


class ReadingOut(ReadingBase):
    """A stored reading as the read API answers it and the live socket pushes it (docs/API.md).

    The web node renders it with `reading_out` (a plain dict, no model per reading); clients
    validate what they receive against this model."""

    # The web node sends exactly these fields (the document says so); a client reading them
    # ignores fields it does not know, so a newer web node may add some.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, json_schema_extra={"additionalProperties": False})

    ts: UtcTimestamp


_OUT_FIELDS: tuple[str, ...] = tuple(ReadingOut.model_fields)  # sensor_id, seq, ts, then QUANTITIES


def reading_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored reading's fields (`ts` unix seconds or a datetime) as the `ReadingOut` JSON object:
    equal to `ReadingOut.model_validate(row).model_dump(mode="json")`, at a fraction of the cost."""
    out = {name: row[name] for name in _OUT_FIELDS}
    out["ts"] = rfc3339(out["ts"])
    return out


def reading_fields_schema(model: type[ReadingBase] = ReadingIn) -> tuple[CoreSchema, CoreConfig]:
    """A reading model's own field rules (types, ranges, field validators; ReadingIn's unless
    told) as a pydantic-core schema and config, for hot paths that validate into plain dicts
    without building models.

    SQLModel's `__init__` makes `ReadingIn.model_validate_json` validate twice and build an
    object the receivers and the web node do not need (~12 µs a reading against ~4 µs for the
    fields alone). A model that is not plain fields (say it gains a model-level validator this
    would skip) is refused with TypeError when its validator is first built, so the fast path
    and the model can never disagree."""
    schema = model.__pydantic_core_schema__
    if schema.get("type") != "model" or schema["schema"].get("type") != "model-fields":
        raise TypeError(f"{model.__name__} has model-level rules: its fields alone cannot validate it")
    return schema["schema"], CoreConfig(**schema.get("config", {}))


def reading_validator(model: type[ReadingBase] = ReadingIn) -> SchemaValidator:
    """The one fields-only validator of `model` (see `reading_fields_schema`), built on first use:
    `validate_json` / `validate_python` give `(fields, extra, fields_set)`."""
    return _validator(model)


@functools.cache  # keyed by the model alone, however the caller named it
def _validator(model: type[ReadingBase]) -> SchemaValidator:
    return SchemaValidator(*reading_fields_schema(model))


class Reading(Measurements, ReadingKey, table=True):
    """A stored reading: the key and quantities of ReadingBase, `ts` as unix seconds (so time
    buckets are plain arithmetic in SQL), and when it was stored."""

    __tablename__ = "readings"
    __table_args__ = (
        UniqueConstraint("sensor_id", "seq", name="uq_readings_sensor_seq"),
        Index("ix_readings_sensor_ts", "sensor_id", "ts"),
        Index("ix_readings_ts", "ts"),
    )

    # 64-bit on PostgreSQL; on SQLite an INTEGER primary key is the (64-bit) rowid
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    ts: float = Field(sa_type=Double)
    stored_at: float = Field(sa_type=Double)


def max_batch_bytes(max_readings: int) -> int:
    """The largest body of `POST /api/v1/batches` the web node takes with BATCH_MAX_READINGS=`max_readings`;
    the receivers bound their chunks by it too."""
    return max(1 << 20, max_readings * BYTES_PER_READING)


class InvalidReading(ValueError):
    """A message that is not a valid reading; `reason` says why, for the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_reading(raw: bytes | str) -> ReadingIn:
    """Validate one JSON-encoded reading, raising InvalidReading with a short reason."""
    try:
        return ReadingIn.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidReading(describe_errors(exc.errors(include_url=False))) from exc


def describe_errors(errors: list[dict]) -> str:
    """Compress pydantic errors into one line: `field: message; field: message`."""
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "reading"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
