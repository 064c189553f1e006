"""Messages on the token topic: grants, releases and receiver presence.

Any Kafka client that can reach the cluster can write to the token topic, so every message is
validated strictly (types, ranges, size) and authenticated: its JSON value carries an HMAC in
the `telering-signature` header, made with the grant keys that every worker holds
(`itsdangerous.Signer`, salt `telering.token-topic.v1`, newest key signs, every key verifies).
A client without a key can neither crash a worker nor raise an epoch, add or remove a receiver,
speak in a worker's name or end a turn: its messages are skipped and counted.

A signature alone does not say when or where a message was sent: a signed message copied off the
topic could be written again later (an old presence naming fewer partitions starves the others),
or carried to another deployment that shares the key. So every message a worker writes carries
an `origin` inside the signed JSON: its deployment (TELERING_APP_ID), its sender, the sender's
incarnation (random per process start), a sequence number and the time it was sent. Receivers
keep the newest (incarnation, seq) per sender (stream_app/freshness.py) and skip anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from itsdangerous import BadSignature, Signer
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from protocol.grants import APP_ID_MAX, INT64_MAX, PARTITION_MAX

MAX_MESSAGE_BYTES = 16 * 1024  # a presence of 1,024 partitions is ~6 KiB
SIGNATURE_HEADER = "telering-signature"
TOKEN_SALT = "telering.token-topic.v1"
# A presence's `at` beyond this is not a time this ring could have seen (clock or forgery).
MAX_UNIX_S = 4_102_444_800.0  # 2100-01-01

Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Epoch = Annotated[int, Field(ge=0, le=INT64_MAX)]
Partition = Annotated[int, Field(ge=0, le=PARTITION_MAX)]
WorkerName = Annotated[str, Field(max_length=256)]
UnixTime = Annotated[float, Field(ge=0, le=MAX_UNIX_S, allow_inf_nan=False)]


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class Origin(_Message):
    """Who sent a message and where it stands in that sender's stream, signed with the message."""

    app: Annotated[str, Field(min_length=1, max_length=APP_ID_MAX)]  # the deployment's TELERING_APP_ID
    sender: Annotated[str, Field(min_length=1, max_length=256)]  # the worker's id
    incarnation: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]  # random per process start
    seq: Annotated[int, Field(ge=1, le=INT64_MAX)]  # 1, 2, 3 ... within the incarnation
    sent_at: UnixTime


class GrantMessage(_Message):
    """A signed grant plus its fields in clear, so receivers can route it without parsing it."""

    type: Literal["grant"] = "grant"
    receiver: Partition
    epoch: Epoch
    expires_at: UnixTime
    token: Annotated[str, Field(min_length=1, max_length=4096)]
    origin: Origin | None = None  # set by the sending channel (stream_app/token_channel.py)


class Release(_Message):
    """A receiver's turn is over; `superseded_by` relays the web node's fencing epoch on a 409."""

    type: Literal["release"] = "release"
    receiver: Partition
    epoch: Epoch
    stored: Count
    duplicates: Count = 0
    superseded_by: Epoch | None = None
    worker: WorkerName = ""
    origin: Origin | None = None  # set by the sending channel (stream_app/token_channel.py)


class Presence(_Message):
    """Which partitions (receivers) a worker owns right now."""

    type: Literal["presence"] = "presence"
    worker: Annotated[str, Field(min_length=1, max_length=256)]
    partitions: Annotated[tuple[Partition, ...], Field(max_length=4096)]
    at: UnixTime
    origin: Origin | None = None  # set by the sending channel (stream_app/token_channel.py)


TokenMessage = GrantMessage | Release | Presence
_ADAPTER: TypeAdapter[TokenMessage] = TypeAdapter(Annotated[TokenMessage, Field(discriminator="type")])


class TokenMessageInvalid(ValueError):
    """Not a token message this ring accepts; `reason` is a short code for metrics and logs."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def stamped(message: TokenMessage, origin: Origin) -> TokenMessage:
    """`message` as sent by `origin` (a copy: messages are frozen)."""
    return message.model_copy(update={"origin": origin})


def encode(message: TokenMessage) -> bytes:
    """Compact JSON of the message (its `type` first); sign it with `TokenSigner.sign`."""
    return message.model_dump_json().encode()


def decode(raw: bytes | None) -> TokenMessage:
    """Parse and validate a token-topic value; raises TokenMessageInvalid("malformed" / "too_large")."""
    if not raw:
        raise TokenMessageInvalid("malformed", "empty message")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise TokenMessageInvalid("too_large", f"{len(raw)} bytes")
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        raise TokenMessageInvalid("malformed", f"{where}: {first.get('msg')}") from None


class TokenSigner:
    """Signs token-topic values with the newest key and verifies them against every key."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a token signer needs at least one key")
        self._signer = Signer(list(keys), salt=TOKEN_SALT)

    def sign(self, value: bytes) -> bytes:
        return self._signer.get_signature(value)

    def verify(self, value: bytes, signature: bytes | None) -> bool:
        if not signature:
            return False
        try:
            return self._signer.verify_signature(value, signature)
        except BadSignature:
            return False


def signature_of(headers: Sequence[tuple[str, bytes]] | None) -> bytes | None:
    """The signature header of a Kafka record's headers, if there is exactly one."""
    found = [value for key, value in headers or () if key == SIGNATURE_HEADER]
    return found[0] if len(found) == 1 else None
