"""`POST /api/v1/batches`: verify the grant, validate the batch, store it once.

Order of checks (DESIGN.md, The token): signature, then the deployment (the grant's `app` must be
this node's TELERING_APP_ID), then expiry, then the epoch fence. A
refused request stores nothing: validation happens before the transaction, and the fence
is raised inside the same transaction as the insert.
"""

from __future__ import annotations

import logging
import time
from typing import NoReturn

from aiohttp import web
from pydantic import ValidationError
from pydantic_core import SchemaValidator, core_schema

from protocol.bodies import BatchIn
from protocol.grants import PARTITION_MAX, Grant, GrantError, max_lifetime_s
from protocol.keyring import Keyring
from protocol.readings import reading_fields_schema
from web_node.appkeys import (
    change_feed_key,
    keyring_key,
    metrics_key,
    placement_key,
    settings_key,
    storage_key,
    storage_outage_key,
)
from web_node.errors import ApiError, error_code
from web_node.storage_errors import StorageError
from web_node.write.fence import GrantSuperseded
from web_node.write.storage import Row, StoreResult

log = logging.getLogger(__name__)

MAX_ITEM_ERRORS = 100


async def post_batch(request: web.Request) -> web.Response:
    """Store a batch of readings under a grant; 200 `{"stored", "duplicates", "epoch"}`.

    The metrics count every batch (accepted, or refused by its error code); the live feed
    (web_node/read/changes.py) is woken to push the readings actually stored."""
    metrics = request.app[metrics_key]
    try:
        result, epoch, seconds = await _store_batch(request)
    except web.HTTPException as exc:
        metrics.batch_refused(error_code(exc))
        raise
    except Exception:
        metrics.batch_refused("internal")
        raise
    metrics.batch_accepted(len(result.stored), result.duplicates, seconds)
    if result.stored:
        request.app[change_feed_key].wake()  # the live clients get them now, not at the feed's next poll
    return web.json_response({"stored": len(result.stored), "duplicates": result.duplicates, "epoch": epoch})


async def _store_batch(request: web.Request) -> tuple[StoreResult, int, float]:
    """Verify, validate and store; returns the result, the grant's epoch and the store time."""
    settings = request.app[settings_key]
    grant = _verified_grant(
        request, request.app[keyring_key], max_lifetime_s(settings.grant_ttl_s), settings.telering_app_id
    )
    storage = request.app[storage_key]
    if grant.epoch < storage.fence_epoch:
        raise _superseded(storage.fence_epoch)
    body = await request.read()
    named, readings = _parse_batch(body, settings.batch_max_readings)
    if named is not None and named != grant.receiver:
        raise ApiError(
            403, "grant_wrong_receiver", f"the batch is receiver {named}'s, the grant covers {grant.receiver}"
        )
    placement = request.app[placement_key]
    if named is None:  # a worker older than the field: only murmur2 can say whose readings these are
        placement.check_unnamed(readings, grant.receiver)
    started = time.perf_counter()
    outage = request.app[storage_outage_key]
    try:
        result = await storage.store(readings, epoch=grant.epoch, receiver=grant.receiver)
    except GrantSuperseded as exc:
        raise _superseded(exc.epoch) from None
    except StorageError as exc:  # nothing is stored: the worker retries the same chunk (503)
        raise outage.failed("write", request, exc) from None
    outage.succeeded("write")
    seconds = time.perf_counter() - started
    if named is not None:
        placement.observe(grant.receiver, result.stored)
    return result, grant.epoch, seconds


def _verified_grant(request: web.Request, keyring: Keyring, max_lifetime: float, app: str) -> Grant:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "grant_invalid", "missing `Authorization: Bearer <grant>` header")
    try:
        return keyring.verify(token.strip(), max_lifetime_s=max_lifetime, app=app)
    except GrantError as exc:
        raise ApiError(401, exc.code, str(exc)) from None


def _superseded(epoch: int) -> ApiError:
    return ApiError(409, "grant_superseded", f"a grant of epoch {epoch} has already been accepted", current_epoch=epoch)


def _parse_batch(body: bytes, max_readings: int) -> tuple[int | None, list[Row]]:
    """The body's receiver (if named) and readings as validated fields; on any refusal the full
    models say why."""
    fast = _fast_rows(body)
    if fast is not None:
        receiver, rows = fast
    else:
        try:
            batch = BatchIn.model_validate_json(body)
            receiver, rows = batch.receiver, [r.model_dump(exclude={"receiver"}) for r in batch.readings]
        except ValidationError as exc:
            _refuse(exc.errors(include_url=False, include_context=False, include_input=False))
    if len(rows) > max_readings:
        raise ApiError(413, "too_large", f"{len(rows)} readings in one batch; the limit is {max_readings}")
    return receiver, rows


def _refuse(errors: list[dict]) -> NoReturn:
    if any(e["type"] == "json_invalid" for e in errors):
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    items = _item_errors(errors)
    if not items:
        raise ApiError(
            422,
            "invalid_body",
            'the body must be {"readings": [...]}',
            errors=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors[:MAX_ITEM_ERRORS]],
        )
    raise ApiError(
        422, "invalid_readings", f"{len(items)} reading(s) invalid; nothing stored", items=items[:MAX_ITEM_ERRORS]
    )


def _batch_fields_validator() -> SchemaValidator:
    """`BatchIn` with ReadingIn's own field rules, validating into plain dicts (see
    `reading_fields_schema`)."""
    fields, config = reading_fields_schema()
    batch = core_schema.model_fields_schema(
        {
            "receiver": core_schema.model_field(
                core_schema.with_default_schema(
                    core_schema.int_schema(ge=0, le=PARTITION_MAX, strict=True), default=None
                )
            ),
            "readings": core_schema.model_field(core_schema.list_schema(fields)),
        },
        extra_behavior="forbid",
    )
    return SchemaValidator(batch, config)


_BATCH_FIELDS = _batch_fields_validator()


def _fast_rows(body: bytes) -> tuple[int | None, list[Row]] | None:
    """The batch's fields, or None if invalid (the full models then say why)."""
    try:
        fields, _extra, _set = _BATCH_FIELDS.validate_json(body)
    except ValidationError:
        return None
    # model-fields validate to (dict, extra, fields set)
    return fields["receiver"], [item[0] for item in fields["readings"]]


def _item_errors(errors: list[dict]) -> list[dict]:
    by_index: dict[int, list[dict]] = {}
    for err in errors:
        loc = err["loc"]
        if len(loc) >= 2 and loc[0] == "readings" and isinstance(loc[1], int):
            field = ".".join(str(p) for p in loc[2:]) or "reading"
            by_index.setdefault(loc[1], []).append({"field": field, "msg": err["msg"]})
    return [{"index": i, "errors": errs} for i, errs in sorted(by_index.items())]
