"""The OpenAPI document's shared parts: parameters, answers and security schemes that several
routes of `web_node/openapi.py` use (see its docstring)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from protocol import bodies
from protocol.readings import SensorId
from protocol.settings import Settings
from web_node.apidoc import Answer, Param
from web_node.auth import READER_REFUSED, READER_SCHEME
from web_node.read.params import MAX_UNIX_S, MIN_UNIX_S

BATCH_MAX = Settings.model_fields["batch_max_readings"].default
SENSOR_ID = TypeAdapter(SensorId).json_schema()
INSTANT = {
    "description": "RFC 3339 with an offset, unix seconds, or epoch milliseconds (13 digits)",
    "anyOf": [
        {"type": "number", "minimum": MIN_UNIX_S, "maximum": MAX_UNIX_S},
        {"type": "integer", "minimum": 10**12, "maximum": 10**13 - 1},
        {"type": "string", "format": "date-time"},
    ],
}
IN_RANGE = "(RFC 3339 with an offset, unix seconds, or epoch milliseconds (13 digits))"


def integer(low: int, high: int, default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, "default": default}


def error(description: str) -> Answer:
    return Answer(description, bodies.Error)


PARAMETERS = {
    "Since": Param("since", f"Only readings with ts >= since {IN_RANGE}", INSTANT),
    "StatsSince": Param("since", f"Only readings with ts >= since {IN_RANGE}; default one hour ago", INSTANT),
    "Until": Param("until", f"Only readings with ts < until {IN_RANGE}", INSTANT),
    "Limit": Param("limit", "At most this many readings", integer(1, bodies.PAGE_LIMIT_MAX, bodies.PAGE_LIMIT_DEFAULT)),
    "SensorsLimit": Param(
        "limit",
        "At most this many sensors",
        integer(1, bodies.SENSORS_LIMIT_MAX, bodies.SENSORS_LIMIT_DEFAULT),
    ),
    "After": Param(
        "after", "Only sensors whose sensor_id sorts after this one (the `next_after` of a page)", SENSOR_ID
    ),
    "Sensors": Param("sensor", "Only these sensors (repeat the parameter for several)", SENSOR_ID, repeatable=True),
}

ANSWERS = {
    "InvalidParameter": Answer(
        "A query or path parameter is unknown, repeated or invalid (`invalid_parameter`, with `parameter` and `value`)",
        bodies.InvalidParameter,
    ),
    "UnknownSensor": error(
        "No reading of this sensor is stored (`unknown_sensor`, with `sensor_id`), or no such route (`not_found`)"
    ),
    "StorageUnavailable": error(
        "The database cannot be used right now (`storage_unavailable`); nothing was stored: retry after the "
        "`Retry-After` seconds"
    ),
    "NotWebSocket": error("Not a WebSocket handshake (`websocket_required`), or a bad `sensor` (`invalid_parameter`)"),
    "TooManyLiveClients": error(
        "Too many live sockets open (`too_many_live_clients`): WEB_NODE_LIVE_MAX_PER_READER for this reader token "
        "(this address when reads are open) or WEB_NODE_LIVE_MAX in all, over the web node's processes; retry "
        "after the `Retry-After` seconds"
    ),
    "InvalidJson": error("The body is not JSON (`invalid_json`)"),
    "GrantRefused": error(
        "No grant, or a bad one: `grant_invalid` (missing, malformed, wrong signature, receiver outside "
        "0..2^31-1, epoch outside 0..2^63-1, expires_at more than max(60 s, 4 x GRANT_TTL_S) ahead) or "
        "`grant_expired`"
    ),
    "WrongReceiver": error(
        "The batch's `receiver` is not the grant's, or (a body without `receiver`) a reading's sensor hashes "
        "(murmur2) to another receiver (`grant_wrong_receiver`)"
    ),
    "Superseded": Answer(
        "A newer grant was already accepted (`grant_superseded`, with `current_epoch`)", bodies.Superseded
    ),
    "ReaderRefused": error(READER_REFUSED),
    "OriginRefused": error(
        "A handshake from a web page whose `Origin` is not the web node's own nor in WEB_NODE_ALLOWED_ORIGINS "
        "(`origin_not_allowed`), refused before the upgrade"
    ),
    "TooLarge": error("More readings or bytes than the web node accepts in one batch (`too_large`)"),
    "InvalidReadings": error(
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
READER = ("reader",)

READ_ERRORS: dict[int, Answer | str] = {400: "InvalidParameter", 401: "ReaderRefused", 503: "StorageUnavailable"}

# What every live WebSocket route (/api/v1/live, /api/v1/alerts/live) may answer to its handshake
SOCKET_RESPONSES: dict[int, Answer | str] = {
    101: Answer("Switching to the WebSocket protocol"),
    400: "NotWebSocket",
    401: "ReaderRefused",
    403: "OriginRefused",
}
