"""Messages on the token topic: grants, releases and receiver presence (JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class GrantMessage:
    """A signed grant plus its fields in clear, so receivers can route it without a key."""

    receiver: int
    epoch: int
    expires_at: float
    token: str
    type: str = field(default="grant", init=False)


@dataclass(frozen=True)
class Release:
    """A receiver's turn is over; `superseded_by` relays the web node's fencing epoch on a 409."""

    receiver: int
    epoch: int
    stored: int
    duplicates: int = 0
    superseded_by: int | None = None
    worker: str = ""
    type: str = field(default="release", init=False)


@dataclass(frozen=True)
class Presence:
    """Which partitions (receivers) a worker owns right now."""

    worker: str
    partitions: tuple[int, ...]
    at: float
    type: str = field(default="presence", init=False)


TokenMessage = GrantMessage | Release | Presence
_TYPES = {"grant": GrantMessage, "release": Release, "presence": Presence}


def encode(message: TokenMessage) -> bytes:
    return json.dumps(asdict(message), separators=(",", ":")).encode()


def decode(raw: bytes) -> TokenMessage:
    """Parse a token-topic message; raises ValueError on anything else."""
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("type"), str) or data["type"] not in _TYPES:
        raise ValueError("not a token message")
    kind = _TYPES[data.pop("type")]
    try:
        if kind is Presence:
            data["partitions"] = tuple(data.get("partitions", ()))
        return kind(**data)
    except TypeError as exc:
        raise ValueError(f"malformed {kind.__name__}: {exc}") from exc
