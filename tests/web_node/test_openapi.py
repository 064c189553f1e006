"""GET /api/v1/openapi.json: the document names exactly the app's routes, agrees with the
protocol's Reading, and a schemathesis run (the CLI, as a subprocess) over every operation of a
real web node holding real data finds no 5xx and no answer that violates the document."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest

from protocol.readings import SENSOR_ID_PATTERN, ReadingIn
from protocol.settings import Settings
from tests.web_node.writes import Writer, reading_at
from web_node import openapi
from web_node.app import create_app

FUZZ_EXAMPLES = 30  # per operation and phase: about 15 s a backend
FUZZ_SEED = int(os.environ.get("TELERING_FUZZ_SEED", "20261124"))  # fixed: the same cases every run

# Answers to schema-valid requests that the document cannot rule out, each for a stated reason.
SCHEMATHESIS_CONFIG = """
[[operations]]
include-path = "/api/v1/stats"
# the 10,000-point cap depends on since, until, bucket and sensor together
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-path = "/api/v1/live"
# a plain GET, without the WebSocket handshake, is refused
checks.positive_data_acceptance.expected-statuses = ["101", "400"]

[[operations]]
include-path = "/api/v1/batches"
# a reading's ts may not be in the future: a rule on the clock, not on the text
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "409", "422"]
"""


def test_document_names_exactly_the_routes(tmp_path):
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"), keys=["k"])
    routes = {(route.method, route.resource.canonical) for route in app.router.routes() if route.method != "HEAD"}
    document = openapi.document()
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert routes == documented
    assert document["openapi"].startswith("3.")


def test_reading_schemas_agree_with_the_protocol():
    schemas = openapi.document()["components"]["schemas"]
    protocol = ReadingIn.model_json_schema()["properties"]
    for name in ("Reading", "ReadingIn"):
        properties = schemas[name]["properties"]
        assert set(properties) == set(protocol) == set(schemas[name]["required"])
        for field in ("temperature", "humidity", "pressure", "battery", "seq"):
            bounds = {k: protocol[field].get(k) for k in ("minimum", "maximum")}
            assert {k: properties[field].get(k) for k in bounds} == bounds, (name, field)
    assert schemas["SensorId"]["pattern"] == SENSOR_ID_PATTERN


async def test_served_document_is_the_packaged_one(web_node_factory, http):
    node = await web_node_factory()
    async with http.get(f"{node.url}/api/v1/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        assert await resp.json() == openapi.document()


@pytest.mark.timeout(240)
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(web_node_factory, http, tmp_path):
    node = await web_node_factory()
    await Writer(http, node).store(
        [
            reading_at(sid, seq, 1_764_000_000.0 + 10 * seq)
            for sid in ("sensor-1", "sensor-2", "lab.3")
            for seq in range(200)
        ]
    )
    grant = node.grant(0, epoch=1_000_000, ttl=600)  # lets fuzzed batches reach validation and storage
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{node.url}/api/v1/openapi.json",
        "--url",
        node.url,
        "--checks",
        "all",
        "--max-examples",
        str(FUZZ_EXAMPLES),
        "--seed",
        str(FUZZ_SEED),
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {grant}",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
    )
    output, _ = await proc.communicate()
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-20_000:]
    operations = len([m for ops in openapi.document()["paths"].values() for m in ops])
    tested = re.search(r"Tested: (\d+)", text)
    assert tested and int(tested[1]) >= operations - 1, text[-5_000:]  # all but the document's own URL
