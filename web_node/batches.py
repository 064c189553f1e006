"""`POST /api/v1/batches`: verify the grant, validate the batch, store it once.

Order of checks (DESIGN.md, The token): signature, then expiry, then the epoch fence. A
refused request stores nothing: validation happens before the transaction, and the fence
is raised inside the same transaction as the insert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import lru_cache

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from protocol.grants import Grant, GrantCodec, GrantError
from protocol.partitioning import partition_for
from protocol.readings import ReadingIn
from web_node.errors import ApiError
from web_node.keys import codec_key, settings_key, storage_key
from web_node.storage import Superseded

log = logging.getLogger("web_node.batches")

StoredListener = Callable[[Sequence[ReadingIn]], None]
stored_listeners_key = web.AppKey("stored_listeners", list[StoredListener])
batch_observers_key = web.AppKey("batch_observers", list[Callable[[str, int, int, float], None]])

MAX_ITEM_ERRORS = 100


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    readings: list[ReadingIn]


async def post_batch(request: web.Request) -> web.Response:
    """Store a batch of readings under a grant; 200 `{"stored", "duplicates"}`."""
    settings = request.app[settings_key]
    grant = _verified_grant(request, request.app[codec_key])
    storage = request.app[storage_key]
    if grant.epoch < storage.fence_epoch:
        raise _superseded(storage.fence_epoch)
    body = await request.read()
    readings = _parse_batch(body, settings.batch_max_readings)
    if settings.check_partition:
        _check_receiver(readings, grant.receiver, settings.readings_partitions)
    try:
        result = await storage.store(readings, epoch=grant.epoch, receiver=grant.receiver)
    except Superseded as exc:
        raise _superseded(exc.epoch) from None
    for listener in request.app[stored_listeners_key]:
        listener(result.stored)
    return web.json_response({"stored": len(result.stored), "duplicates": result.duplicates,
                              "epoch": grant.epoch})


def _verified_grant(request: web.Request, codec: GrantCodec) -> Grant:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "grant_invalid", "missing `Authorization: Bearer <grant>` header")
    try:
        return codec.verify(token.strip())
    except GrantError as exc:
        raise ApiError(401, exc.code, str(exc)) from None


def _superseded(epoch: int) -> ApiError:
    return ApiError(409, "grant_superseded", f"a grant of epoch {epoch} has already been accepted",
                    current_epoch=epoch)


def _parse_batch(body: bytes, max_readings: int) -> list[ReadingIn]:
    try:
        readings = BatchIn.model_validate_json(body).readings
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
    else:
        if len(readings) > max_readings:
            raise ApiError(413, "too_large", f"{len(readings)} readings in one batch; the limit is {max_readings}")
        return readings
    if any(e["type"] == "json_invalid" for e in errors):
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    items = _item_errors(errors)
    if not items:
        raise ApiError(422, "invalid_body", 'the body must be {"readings": [...]}',
                       errors=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors[:MAX_ITEM_ERRORS]])
    raise ApiError(422, "invalid_readings", f"{len(items)} reading(s) invalid; nothing stored",
                   items=items[:MAX_ITEM_ERRORS])


def _item_errors(errors: list[dict]) -> list[dict]:
    by_index: dict[int, list[dict]] = {}
    for err in errors:
        loc = err["loc"]
        if len(loc) >= 2 and loc[0] == "readings" and isinstance(loc[1], int):
            field = ".".join(str(p) for p in loc[2:]) or "reading"
            by_index.setdefault(loc[1], []).append({"field": field, "msg": err["msg"]})
    return [{"index": i, "errors": errs} for i, errs in sorted(by_index.items())]


def _check_receiver(readings: Sequence[ReadingIn], receiver: int, partitions: int) -> None:
    for reading in readings:
        if _partition(reading.sensor_id, partitions) != receiver:
            raise ApiError(403, "grant_wrong_receiver",
                           f"sensor {reading.sensor_id!r} belongs to receiver "
                           f"{_partition(reading.sensor_id, partitions)}, the grant covers {receiver}")


@lru_cache(maxsize=65536)
def _partition(sensor_id: str, partitions: int) -> int:
    return partition_for(sensor_id, partitions)
