"""`GET /api/v1/openapi.json`: the web node's OpenAPI 3.1 document, generated from the models.

Bodies and answers are the models of `protocol.readings` / `protocol.bodies`; routes, their
parameters and answers are the table below (built by `web_node.apidoc`). To document a new
route, add an `Operation` to OPERATIONS next to its handler in routes.py; shared parameters and
answers go in PARAMETERS / ANSWERS, security schemes in SECURITY_SCHEMES (web_node/openapi_shared.py).
tests/web_node/test_openapi.py checks that the table names exactly the app's routes and fuzzes
the app against the document (schemathesis).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aiohttp import web

from protocol import bodies, durations
from protocol.readings import MAX_FUTURE_S, QUANTITIES
from web_node.alerts.apidoc import ALERT_OPERATIONS
from web_node.apidoc import Answer, ApiTable, Operation, Param, build_document
from web_node.openapi_shared import (
    ANSWERS,
    BATCH_MAX,
    PARAMETERS,
    READ_ERRORS,
    READER,
    SECURITY_SCHEMES,
    SENSOR_ID,
    SOCKET_RESPONSES,
    integer,
)
from web_node.read.live import HEARTBEAT_S

SENSOR_PATH_ID = Param("id", "The sensor's id", SENSOR_ID, location="path", example="sensor-1")

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
            f"BATCH_MAX_READINGS ({BATCH_MAX} by default; 413 beyond)."
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
        security=READER,
        parameters=("SensorsLimit", "After"),
        responses={200: Answer("A page of sensors sorted by sensor_id", bodies.SensorList), **READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/sensors/{id}/readings",
        "sensorReadings",
        "One sensor's readings, newest first, one page at a time",
        security=READER,
        description=(
            "Readings with since <= ts < until, newest first. When more readings match than `limit`, "
            "`next_until` is the ts of the oldest one returned: pass it as `until` for the next, older page. "
            "A page ends with every reading of its oldest ts, so readings sharing a ts can make it longer."
        ),
        parameters=(
            SENSOR_PATH_ID,
            "Since",
            "Until",
            "Limit",
        ),
        responses={200: Answer("A page of readings", bodies.ReadingPage), 404: "UnknownSensor", **READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/sensors/{id}/readings.csv",
        "sensorReadingsCsv",
        "One sensor's readings in a range as CSV, oldest first, streamed",
        security=READER,
        description=(
            "Every kept reading with since <= ts < until (the whole kept history without them), oldest first "
            "(by ts, then store order), as RFC 4180 CSV in UTF-8: a header row `ts,unix_s,sensor_id,seq,"
            f"{','.join(QUANTITIES)}`, then one row per reading (`ts` RFC 3339 UTC, `unix_s` and the quantities "
            "as stored, digit for digit). Streamed in pages, in constant memory, however long the range; if "
            "the database fails part way the connection is cut, so a download is complete or visibly broken."
        ),
        parameters=(
            SENSOR_PATH_ID,
            "Since",
            "Until",
        ),
        responses={
            200: Answer("CSV, a header row and one row per reading", content={"text/csv": {"type": "string"}}),
            404: "UnknownSensor",
            **READ_ERRORS,
        },
    ),
    Operation(
        "GET",
        "/api/v1/readings/latest",
        "latestReadings",
        "The newest readings over all sensors, newest first",
        security=READER,
        parameters=("Limit",),
        responses={200: Answer("The newest readings", bodies.ReadingList), **READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/stats",
        "stats",
        "min / max / mean per sensor per time bucket, computed by the database",
        security=READER,
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
                        integer(1, bodies.STATS_BUCKET_MAX_S, bodies.STATS_BUCKET_DEFAULT_S),
                        {"type": "string", "pattern": durations.PATTERN},
                    ],
                    "default": bodies.STATS_BUCKET_DEFAULT_S,
                },
                example="5m",
            ),
            "Sensors",
        ),
        responses={200: Answer("One series per sensor", bodies.Stats), **READ_ERRORS},
    ),
    Operation(
        "GET",
        "/api/v1/live",
        "live",
        "WebSocket: every newly stored reading as one JSON text message (a ReadingOut)",
        security=READER,
        description=(
            f"Messages come in store order per sensor. The server pings every {HEARTBEAT_S:.0f} s. A client more "
            f"than its queue behind (twice BATCH_MAX_READINGS messages: {2 * BATCH_MAX:,} by default) is closed "
            "with code 1013 (try again later); on shutdown the server closes with 1001. A plain HTTP GET (no "
            "WebSocket handshake) is answered 400 `websocket_required`; more sockets than the web node's limits, "
            "429 `too_many_live_clients` before the handshake."
        ),
        parameters=("Sensors",),
        responses={**SOCKET_RESPONSES, 429: "TooManyLiveClients"},
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
        "Liveness and readiness: the database answers (only `status` without a reader token when reads need one)",
        responses={200: Answer("Ready", bodies.Health), 503: Answer("The database does not answer", bodies.Health)},
    ),
    Operation(
        "GET",
        "/metrics",
        "metrics",
        "Prometheus text exposition",
        security=READER,
        description=(
            "telering_batches_accepted_total, telering_batches_refused_total{reason}, "
            "telering_readings_stored_total, telering_readings_duplicate_total, telering_store_seconds "
            "(histogram), telering_live_clients, telering_live_dropped_total; retention: "
            "telering_retention_expired_total{table}, telering_retention_runs_total, "
            "telering_retention_failures_total, telering_retention_vacuumed_pages_total, "
            "telering_retention_last_run_timestamp_seconds; alerts: telering_alerts{rule,severity,state}, "
            "telering_alert_transitions_total{rule,to}, telering_alertmanager_posts_total{outcome}, "
            "telering_alert_rules_reload_failures_total."
        ),
        responses={200: Answer("Metrics", content={"text/plain": {"type": "string"}}), 401: "ReaderRefused"},
    ),
    *ALERT_OPERATIONS,  # web_node/alerts/apidoc.py
)

API = ApiTable(
    title="telering web node",
    version="1.0.0",
    description=(
        "Stores sensor readings sent by the stream app under a signed grant, and serves them: history, "
        "downsampled stats, a live WebSocket, health and metrics. Timestamps in answers are RFC 3339 UTC with "
        "six fractional digits; `since`/`until` accept RFC 3339 (with an offset), unix seconds or epoch "
        "milliseconds (13 digits). A reading's "
        f"ts may be at most {MAX_FUTURE_S:.0f} s in the future. Every error is JSON "
        '`{"error": code, "detail": text}`, plus fields named per error. See docs/API.md. A request whose '
        "`Host` is not one of the web node's names (WEB_NODE_ALLOWED_HOSTS) is answered 421 `host_not_allowed` "
        "on every route; a WebSocket handshake whose `Origin` is not allowed (WEB_NODE_ALLOWED_ORIGINS), 403 "
        "`origin_not_allowed`."
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
