"""`GET /api/v1/openapi.json`: the web node's OpenAPI 3.1 document, generated from the models.

Bodies and answers are the models of `protocol.readings` / `protocol.bodies`; routes, their
parameters and answers are the table below (built by `web_node.apidoc`). To document a new
route, add an `Operation` to OPERATIONS next to its handler in routes.py; shared parameters and
answers go in PARAMETERS / ANSWERS, security schemes in SECURITY_SCHEMES.
tests/web_node/test_openapi.py checks that the table names exactly the app's routes and fuzzes
the app against the document (schemathesis).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter

from protocol import bodies, durations
from protocol.readings import MAX_FUTURE_S, QUANTITIES, SensorId
from protocol.settings import Settings
from web_node.apidoc import Answer, ApiTable, Operation, Param, build_document
from web_node.auth import READER_REFUSED, READER_SCHEME
from web_node.live import HEARTBEAT_S
from web_node.params import MAX_UNIX_S, MIN_UNIX_S

_BATCH_MAX = Settings.model_fields["batch_max_readings"].default
_SENSOR_ID = TypeAdapter(SensorId).json_schema()
_INSTANT = {
    "description": "RFC 3339 with an offset, or unix seconds",
    "anyOf": [
        {"type": "number", "minimum": MIN_UNIX_S, "maximum": MAX_UNIX_S},
        {"type": "string", "format": "date-time"},
    ],
}
_IN_RANGE = "(RFC 3339 with an offset, or unix seconds)"


def _integer(low: int, high: int, default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, "default": default}


def _error(description: str) -> Answer:
    return Answer(description, bodies.Error)


PARAMETERS = {
    "Since": Param("since", f"Only readings with ts >= since {_IN_RANGE}", _INSTANT),
    "StatsSince": Param("since", f"Only readings with ts >= since {_IN_RANGE}; default one hour ago", _INSTANT),
    "Until": Param("until", f"Only readings with ts < until {_IN_RANGE}", _INSTANT),
    "Limit": Param(
        "limit", "At most this many readings", _integer(1, bodies.PAGE_LIMIT_MAX, bodies.PAGE_LIMIT_DEFAULT)
    ),
    "SensorsLimit": Param(
        "limit",
        "At most this many sensors",
        _integer(1, bodies.SENSORS_LIMIT_MAX, bodies.SENSORS_LIMIT_DEFAULT),
    ),
    "After": Param(
        "after", "Only sensors whose sensor_id sorts after this one (the `next_after` of a page)", _SENSOR_ID
    ),
    "Sensors": Param("sensor", "Only these sensors (repeat the parameter for several)", _SENSOR_ID, repeatable=True),
}

ANSWERS = {
    "InvalidParameter": Answer(
        "A query or path parameter is unknown, repeated or invalid (`invalid_parameter`, with `parameter` and `value`)",
        bodies.InvalidParameter,
    ),
    "UnknownSensor": _error(
        "No reading of this sensor is stored (`unknown_sensor`, with `sensor_id`), or no such route (`not_found`)"
    ),
    "StorageUnavailable": _error(
        "The database cannot be used right now (`storage_unavailable`); nothing was stored: retry after the "
        "`Retry-After` seconds"
    ),
    "NotWebSocket": _error("Not a WebSocket handshake (`websocket_required`), or a bad `sensor` (`invalid_parameter`)"),
    "InvalidJson": _error("The body is not JSON (`invalid_json`)"),
    "GrantRefused": _error(
        "No grant, or a bad one: `grant_invalid` (missing, malformed, wrong signature, receiver outside "
        "0..2^31-1, epoch outside 0..2^63-1, expires_at more than max(60 s, 4 x GRANT_TTL_S) ahead) or "
        "`grant_expired`"
    ),
    "WrongReceiver": _error(
        "The batch's `receiver` is not the grant's, or (a body without `receiver`) a reading's sensor hashes "
        "(murmur2) to another receiver (`grant_wrong_receiver`)"
    ),
    "Superseded": Answer(
        "A newer grant was already accepted (`grant_superseded`, with `current_epoch`)", bodies.Superseded
    ),
    "ReaderRefused": _error(READER_REFUSED),
    "TooLarge": _error("More readings or bytes than the web node accepts in one batch (`too_large`)"),
    "InvalidReadings": _error(
        "Invalid readings (`invalid_readings`, with `items`: per index, the errors) "
        'or a body that is not {"readings": [...]} (`invalid_body`)'
    ),
}

SECURITY_SCHEMES = {
    "grant": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "itsdangerous URLSafeTimedSerializer token (salt telering.grant.v1)",
        "description": "A grant signed by the coordinator: {receiver, epoch, expires_at}.",
    },
    "reader": READER_SCHEME,
}
_READER = ("reader",)

_READ_ERRORS: dict[int, Answer | str] = {400: "InvalidParameter", 401: "ReaderRefused", 503: "StorageUnavailable"}

OPERATIONS = (
    Operation(
        "POST",
        "/api/v1/batches",
        "postBatch",
        "Store a batch of readings under a grant",
        description=(
            "Checks, in order: the grant's signature and fields, its expiry, the batch's body, its `receiver` "
            "against the grant's, then the epoch fence (in the same transaction as the insert). A refused batch "
            "stores nothing. Readings already stored (same sensor_id and seq) are counted as duplicates, not "
            "stored twice. The number of readings per batch is limited by the web node's setting "
            f"BATCH_MAX_READINGS ({_BATCH_MAX} by default; 413 beyond)."
        ),
        security=("grant",),
        body=bodies.BatchIn,
        responses={
            200: Answer("Stored", bodies.BatchStored),
            400: "InvalidJson",
            401: "GrantRefused",
            403: "WrongReceiver",
            409: "Superseded",
            413: "TooLarge",
            422: "InvalidReadings",
            503: "StorageUnavailable",
        },
    ),
    Operation(
        "GET",
        "/api/v1/sensors",
        "listSensors",
        "The sensors with their count, first and last timestamps and latest reading, a page at a time",
        security=_READER,
        parameters=("SensorsLimit", "After"),
        responses={200: Answer("A page of sensors sorted by sensor_id", bodies.SensorList), **_READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/sensors/{id}/readings",
        "sensorReadings",
        "One sensor's readings, newest first, one page at a time",
        security=_READER,
        description=(
            "Readings with since <= ts < until, newest first. When more readings match than `limit`, "
            "`next_until` is the ts of the oldest one returned: pass it as `until` for the next, older page."
        ),
        parameters=(
            Param("id", "The sensor's id", _SENSOR_ID, location="path", example="sensor-1"),
            "Since",
            "Until",
            "Limit",
        ),
        responses={200: Answer("A page of readings", bodies.ReadingPage), 404: "UnknownSensor", **_READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/sensors/{id}/readings.csv",
        "sensorReadingsCsv",
        "One sensor's readings in a range as CSV, oldest first, streamed",
        security=_READER,
        description=(
            "Every kept reading with since <= ts < until (the whole kept history without them), oldest first "
            "(by ts, then store order), as RFC 4180 CSV in UTF-8: a header row `ts,unix_s,sensor_id,seq,"
            f"{','.join(QUANTITIES)}`, then one row per reading (`ts` RFC 3339 UTC, `unix_s` and the quantities "
            "as stored, digit for digit). Streamed in pages, in constant memory, however long the range; if "
            "the database fails part way the connection is cut, so a download is complete or visibly broken."
        ),
        parameters=(
            Param("id", "The sensor's id", _SENSOR_ID, location="path", example="sensor-1"),
            "Since",
            "Until",
        ),
        responses={
            200: Answer("CSV, a header row and one row per reading", content={"text/csv": {"type": "string"}}),
            404: "UnknownSensor",
            **_READ_ERRORS,
        },
    ),
    Operation(
        "GET",
        "/api/v1/readings/latest",
        "latestReadings",
        "The newest readings over all sensors, newest first",
        security=_READER,
        parameters=("Limit",),
        responses={200: Answer("The newest readings", bodies.ReadingList), **_READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/stats",
        "stats",
        "min / max / mean per sensor per time bucket, computed by the database",
        security=_READER,
        description=(
            "Buckets are aligned to multiples of `bucket` seconds since the unix epoch (`t` is the bucket's "
            "start; the first may start before `since`, but only readings with since <= ts < until count). "
            f"Only sensors and buckets that hold readings appear. At most {bodies.STATS_MAX_POINTS:,} points "
            "(sensor buckets) per answer: a request that could exceed it is refused with 400 "
            "`invalid_parameter` naming `bucket`."
        ),
        parameters=(
            "StatsSince",
            "Until",
            Param(
                "bucket",
                "Bucket width: whole seconds (`300`), or a duration with a unit s, m, h or d (`300s`, `5m`, "
                f"`1h`, `1d`), from 1 s to {bodies.STATS_BUCKET_MAX_S} s",
                {
                    "anyOf": [
                        _integer(1, bodies.STATS_BUCKET_MAX_S, bodies.STATS_BUCKET_DEFAULT_S),
                        {"type": "string", "pattern": durations.PATTERN},
                    ],
                    "default": bodies.STATS_BUCKET_DEFAULT_S,
                },
                example="5m",
            ),
            "Sensors",
        ),
        responses={200: Answer("One series per sensor", bodies.Stats), **_READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/live",
        "live",
        "WebSocket: every newly stored reading as one JSON text message (a ReadingOut)",
        security=_READER,
        description=(
            f"Messages come in store order per sensor. The server pings every {HEARTBEAT_S:.0f} s. A client more "
            f"than its queue behind (twice BATCH_MAX_READINGS messages: {2 * _BATCH_MAX:,} by default) is closed "
            "with code 1013 (try again later); on shutdown the server closes with 1001. A plain HTTP GET (no "
            "WebSocket handshake) is answered 400 `websocket_required`."
        ),
        parameters=("Sensors",),
        responses={101: Answer("Switching to the WebSocket protocol"), 400: "NotWebSocket", 401: "ReaderRefused"},
    ),
    Operation(
        "GET",
        "/api/v1/openapi.json",
        "openapi",
        "This document",
        responses={
            200: Answer(
                "The OpenAPI 3 document",
                content={"application/json": {"type": "object", "required": ["openapi", "paths"]}},
            )
        },
    ),
    Operation(
        "GET",
        "/healthz",
        "health",
        "Liveness and readiness: the database answers",
        responses={200: Answer("Ready", bodies.Health), 503: Answer("The database does not answer", bodies.Health)},
    ),
    Operation(
        "GET",
        "/metrics",
        "metrics",
        "Prometheus text exposition",
        security=_READER,
        description=(
            "telering_batches_accepted_total, telering_batches_refused_total{reason}, "
            "telering_readings_stored_total, telering_readings_duplicate_total, telering_store_seconds "
            "(histogram), telering_live_clients, telering_live_dropped_total; retention: "
            "telering_retention_expired_total{table}, telering_retention_runs_total, "
            "telering_retention_failures_total, telering_retention_vacuumed_pages_total, "
            "telering_retention_last_run_timestamp_seconds."
        ),
        responses={200: Answer("Metrics", content={"text/plain": {"type": "string"}}), 401: "ReaderRefused"},
    ),
)

API = ApiTable(
    title="telering web node",
    version="1.0.0",
    description=(
        "Stores sensor readings sent by the stream app under a signed grant, and serves them: history, "
        "downsampled stats, a live WebSocket, health and metrics. Timestamps in answers are RFC 3339 UTC with "
        "six fractional digits; `since`/`until` accept RFC 3339 (with an offset) or unix seconds. A reading's "
        f"ts may be at most {MAX_FUTURE_S:.0f} s in the future. Every error is JSON "
        '`{"error": code, "detail": text}`, plus fields named per error. See docs/API.md.'
    ),
    operations=OPERATIONS,
    parameters=PARAMETERS,
    answers=ANSWERS,
    security_schemes=SECURITY_SCHEMES,
)


@cache
def document_bytes() -> bytes:
    """The document as JSON, built once (on first use, not at import)."""
    return json.dumps(build_document(API), ensure_ascii=False).encode()


def document() -> dict[str, Any]:
    """A fresh copy of the document (callers may change it)."""
    return json.loads(document_bytes())


async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=document_bytes(), content_type="application/json")
