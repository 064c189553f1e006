"""GET /api/v1/openapi.json: the document (generated from the models) names exactly the app's
routes, its readings are the protocol's models, and a schemathesis run (the CLI, as a subprocess)
over every operation of a real web node holding real data finds no 5xx and no answer that
violates the document."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys

import pytest

from protocol import reader_tokens
from protocol.bodies import PAGE_LIMIT_MAX
from protocol.readings import QUANTITIES, SENSOR_ID_PATTERN, Measurements, ReadingOut, reading_out
from protocol.settings import Settings
from tests.web_node.writes import Writer, reading_at
from web_node import apidoc, openapi
from web_node.app import create_app

FUZZ_EXAMPLES = 30  # per operation and phase: about 15 s a backend
FUZZ_SEED = int(os.environ.get("TELERING_FUZZ_SEED", "20261124"))  # fixed: the same cases every run

# Answers to schema-valid requests that the document cannot rule out, each for a stated reason.
SCHEMATHESIS_CONFIG = """
# each security scheme of the document gets its own token: a grant for batches, a reader token
# for reads (the `ignored_auth` check also sends requests without them and expects 401)
[auth.openapi.grant]
bearer = "${TELERING_FUZZ_GRANT}"

[auth.openapi.reader]
bearer = "${TELERING_FUZZ_READER}"

[[operations]]
include-path = "/api/v1/stats"
# the 10,000-point cap depends on since, until, bucket and sensor together
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-path = "/api/v1/live"
# a plain GET, without the WebSocket handshake, is refused
checks.positive_data_acceptance.expected-statuses = ["101", "400"]

[[operations]]
include-path = "/api/v1/alerts/live"
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
    assert routes == set(apidoc.operations(document))
    assert document["openapi"].startswith("3.1")


def test_reading_schemas_are_the_protocol_models():
    """The document's readings are ReadingIn / ReadingOut themselves: same fields, ranges from Measurements."""
    schemas = openapi.document()["components"]["schemas"]
    for name in ("ReadingIn", "ReadingOut"):
        properties = schemas[name]["properties"]
        assert list(properties) == ["sensor_id", "seq", "ts", *QUANTITIES] == schemas[name]["required"]
        assert schemas[name]["additionalProperties"] is False
        for quantity, info in Measurements.model_fields.items():
            bounds = {type(m).__name__: m for m in info.metadata}
            assert (
                properties[quantity]["minimum"] == bounds["Ge"].ge
                and properties[quantity]["maximum"] == bounds["Le"].le
            )
            assert properties[quantity]["description"] == info.description
        assert properties["sensor_id"]["pattern"] == SENSOR_ID_PATTERN
        assert properties["seq"]["maximum"] == 2**63 - 1
    assert schemas["BatchIn"]["properties"]["readings"]["items"] == {"$ref": "#/components/schemas/ReadingIn"}
    page = schemas["ReadingPage"]["properties"]["readings"]
    assert page["items"] == {"$ref": "#/components/schemas/ReadingOut"} and page["maxItems"] == PAGE_LIMIT_MAX


def test_every_reference_resolves_and_every_component_is_used():
    document = openapi.document()
    text = json.dumps(document)
    refs = set(re.findall(r'"\$ref": "#/components/([A-Za-z]+)/([A-Za-z0-9_.-]+)"', text))
    for kind, name in refs:
        assert name in document["components"][kind], (kind, name)
    defined = {(kind, name) for kind in ("parameters", "responses", "schemas") for name in document["components"][kind]}
    assert defined - refs == set()


def test_answers_as_rendered_validate_against_the_models():
    """What the read routes and the live socket send (reading_out) is a valid ReadingOut, exactly."""
    row = {**reading_at("lab.3", 7, 0), "ts": 1_764_000_000.123456}  # a stored row: ts in unix seconds
    rendered = reading_out(row)
    assert rendered["ts"] == "2025-11-24T16:00:00.123456Z"
    assert ReadingOut.model_validate(rendered).model_dump(mode="json") == rendered
    assert list(rendered) == list(ReadingOut.model_fields)


async def test_served_document_is_the_generated_one(web_node_factory, http):
    node = await web_node_factory()
    async with http.get(f"{node.url}/api/v1/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        assert await resp.json() == openapi.document()


@pytest.mark.timeout(240)
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(web_node_factory, http, tmp_path):
    readers_file = tmp_path / "telering.readers"
    reader = reader_tokens.add_reader(readers_file, "fuzzer")
    node = await web_node_factory(web_node_read_auth="required", telering_readers_file=readers_file)
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
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "NO_COLOR": "1",
            "COLUMNS": "120",
            "TELERING_FUZZ_GRANT": grant,
            "TELERING_FUZZ_READER": reader,
        },
    )
    output, _ = await proc.communicate()
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-20_000:]
    operations = len(list(apidoc.operations(openapi.document())))
    tested = re.search(r"Tested: (\d+)", text)
    assert tested and int(tested[1]) >= operations - 1, text[-5_000:]  # all but the document's own URL
