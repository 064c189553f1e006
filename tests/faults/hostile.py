"""Helpers of the hostile-input tests: talk to a web node process as an attacker would."""

from __future__ import annotations

import json
import sqlite3
import time

import requests

from protocol.grants import Grant, GrantCodec
from protocol.keys import read_key_file
from testkit.pipeline import PipelineHarness


def post(
    url: str, body: bytes | dict, token: str | None = None, *, authorization: str | None = None, timeout: float = 60
) -> tuple[int, dict]:
    """POST /api/v1/batches; (status, JSON body). `authorization` overrides the Bearer header."""
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = requests.post(f"{url}/api/v1/batches", data=data, headers=headers, timeout=timeout)
    try:
        payload = response.json()
    except ValueError:
        payload = {"text": response.text[:200]}
    return response.status_code, payload


def mint(harness: PipelineHarness, receiver: int, epoch: int, ttl: float = 30.0) -> str:
    """A grant signed with the pipeline's own key: what an insider (or the coordinator) could make."""
    return GrantCodec(read_key_file(harness.keys_file)).sign(Grant(receiver, epoch, time.time() + ttl, harness.app_id))


def fence(harness: PipelineHarness) -> tuple[int, int]:
    """(epoch, receiver) of the web node's persisted fence."""
    with sqlite3.connect(harness.db_path, timeout=30) as conn:
        return tuple(conn.execute("SELECT epoch, receiver FROM grant_fence WHERE id = 1").fetchone())


def healthy(harness: PipelineHarness) -> bool:
    return requests.get(f"{harness.web_url}/healthz", timeout=10).status_code == 200
