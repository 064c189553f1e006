"""Hostile stream input (issue 6, 10): 5 % invalid messages over a long run — every one in the
dead-letter topic with a reason, every valid reading stored once, the worker never restarts.

Needs: the session's real Apache Kafka broker, a real web node process with a SQLite file, a real
worker process and the simulator.
"""

from __future__ import annotations

import re

import pytest

from stream_app.dlq import REASON_HEADER, SOURCE_HEADER
from tests.faults.hostile import healthy
from tests.support.pipeline import stored_exactly_once

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_invalid_stream_input_is_dead_lettered_and_the_worker_survives(pipeline_factory):
    harness = pipeline_factory(partitions=4)
    _, (worker,) = harness.start()
    pid = worker.pid
    summary = harness.simulate(
        "--sensors", "16", "--rate", "250", "--duration", "24", "--seed", "13", "--invalid-fraction", "0.05"
    )
    assert summary["invalid"] >= 200 and len(summary["invalid_by_kind"]) >= 5, summary["invalid_by_kind"]

    stored_exactly_once(harness, summary)
    dlq = harness.dlq_messages()
    assert len(dlq) == summary["invalid"]
    headers = [dict(record.headers) for record in dlq]
    assert all(h.get(REASON_HEADER) for h in headers), "every dead letter says why"
    sources = [h[SOURCE_HEADER].decode() for h in headers]
    assert all(re.fullmatch(rf"{re.escape(harness.topics.readings)}/\d+/\d+", s) for s in sources)
    assert len(set(sources)) == len(sources), "each invalid message dead-lettered once"
    assert len({h[REASON_HEADER] for h in headers}) >= 5

    log = worker.log_text()
    assert worker.alive and worker.pid == pid
    assert log.count("[^Worker]: Starting") == 1 and "Traceback" not in log
    assert healthy(harness)
