"""The JSON bodies of the web node's HTTP API (docs/API.md) as models, and the API's limits.

One definition for the web node (which validates batches with `BatchIn`), its OpenAPI
document (web_node/openapi.py generates the component schemas from these models) and the
desktop client (which validates answers against them, ignoring fields it does not know).
The web node renders its answers as plain dicts on the hot paths; the schemathesis run of
tests/web_node/test_openapi.py checks that they match these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from protocol.readings import QUANTITIES, Measurements, ReadingIn, ReadingOut, SensorId, UtcTimestamp

# Limits of the read API (the web node enforces them; clients plan their requests by them).
PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX = 100, 1000
STATS_BUCKET_DEFAULT_S, STATS_BUCKET_MAX_S = 60, 86_400
STATS_MAX_POINTS = 10_000  # sensor buckets per /api/v1/stats answer
SENSORS_LIMIT_DEFAULT = SENSORS_LIMIT_MAX = 1000  # sensors per /api/v1/sensors page


class _Answer(BaseModel):
    """An answer whose fields are exactly these (`additionalProperties: false` in the document)."""

    model_config = ConfigDict(extra="forbid")


class BatchIn(BaseModel):
    """The body of `POST /api/v1/batches`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    receiver: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="The receiver (Kafka partition, an int32) these readings were consumed from; when given, it "
        "must be the grant's receiver, and the readings are stored whatever partitioner put them there",
    )
    readings: list[ReadingIn]


class BatchStored(_Answer):
    """What a stored batch is answered with."""

    stored: int = Field(ge=0, description="Readings newly stored")
    duplicates: int = Field(ge=0, description="Readings already stored (same sensor_id and seq), not stored again")
    epoch: int = Field(description="The grant's epoch")


class Sensor(_Answer):
    sensor_id: SensorId
    count: int = Field(ge=1)
    first_seen: UtcTimestamp
    last_seen: UtcTimestamp
    latest: ReadingOut


class SensorList(_Answer):
    sensors: list[Sensor] = Field(max_length=SENSORS_LIMIT_MAX, description="Sorted by sensor_id")
    next_after: SensorId | None = Field(
        description="sensor_id of the last sensor returned when there are more: the `after` of the next page; "
        "null on the last page"
    )


class ReadingPage(_Answer):
    sensor_id: SensorId
    readings: list[ReadingOut] = Field(max_length=PAGE_LIMIT_MAX, description="Newest first")
    next_until: UtcTimestamp | None = Field(
        description="ts of the oldest reading returned when there are older ones: the `until` of the next page; "
        "null on the last page"
    )


class ReadingList(_Answer):
    readings: list[ReadingOut] = Field(max_length=PAGE_LIMIT_MAX, description="Newest first")


class StatsCell(_Answer):
    min: float
    max: float
    mean: float


StatsPoint: type[_Answer] = create_model(
    "StatsPoint",
    __base__=_Answer,
    __doc__="One bucket of one sensor: its start, how many readings it holds, and per quantity min/max/mean.",
    t=(UtcTimestamp, Field(description="The bucket's start: floor(ts / bucket) × bucket")),
    count=(int, Field(ge=1)),
    **{q: (StatsCell, Field(title=Measurements.model_fields[q].title)) for q in QUANTITIES},
)


class StatsSeries(_Answer):
    sensor_id: SensorId
    points: list[StatsPoint] = Field(min_length=1, description="Sorted by t")  # type: ignore[valid-type]


class Stats(_Answer):
    bucket_s: int = Field(ge=1, le=STATS_BUCKET_MAX_S, description="The bucket width in seconds")
    series: list[StatsSeries] = Field(description="Sorted by sensor_id")


class Health(BaseModel):
    """The whole web node's health; a caller without a reader token, when reads need one, gets `status` alone."""

    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"] | None = None
    fence_epoch: int | None = Field(default=None, description="The highest grant epoch accepted")
    reason: str | None = Field(
        default=None,
        description="Why not ready: unreachable, no answer within the deadline (0.8 s), or no writer process",
    )
    processes: list[dict] | None = Field(
        default=None, description="The web node's processes: index, pid, role, alive, live_clients"
    )


class Error(BaseModel):
    """Every error answer: a code for programs, a text for people, and fields named per error."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="Machine-readable code")
    detail: str = Field(description="For people")


class InvalidParameter(Error):
    error: Literal["invalid_parameter"]
    parameter: str = Field(description="The parameter's name")
    value: str | list[str] = Field(description="The value given: text, or a list of texts for a repeated parameter")


class Superseded(Error):
    error: Literal["grant_superseded"]
    current_epoch: int = Field(description="The highest grant epoch the web node has accepted")
