"""/healthz and /metrics of a worker read its two sides' `status()` (the pages themselves are
served by Faust in every integration test; here, what they say about a worker not yet started)."""

from __future__ import annotations

from prometheus_client import generate_latest

from protocol.keyring import Keyring
from protocol.settings import Settings
from stream_app import health
from stream_app.app import build_app
from stream_app.buffers import Pending
from stream_app.metrics import registry_for
from stream_app.receiver_side import ReceiverSide
from stream_app.token_side import TokenSide

KEY = "k" * 43


async def test_health_and_metrics_report_each_sides_status():
    app = build_app(Settings(TELERING_GRANT_KEYS=KEY))
    app.is_leader = lambda: False  # Faust's consumer is not started: nobody leads yet
    worker = app.worker
    assert health.check(worker)[1]["checks"]["running"] is False
    worker.receivers = ReceiverSide(worker.settings, "readings", worker.dead_letters, client_id="test")
    worker.tokens = TokenSide(
        worker.settings, "token", Keyring([KEY]), worker.receivers, worker_id="test", is_leader=app.is_leader
    )
    await worker.receivers._on_assigned({0, 2})
    worker.receivers.buffers.extend(2, [Pending(b"{}", 5), Pending(b"{}", 6)])

    ready, details = health.check(worker)
    assert not ready and details["receivers"] == [0, 2] and details["buffered"] == 2
    assert details["checks"]["coordinator_loop"] and not details["checks"]["consumer_loop"]

    text = generate_latest(registry_for(worker)).decode()
    assert 'telering_worker_readings_buffered{partition="2"} 2.0' in text
    assert 'telering_worker_readings_buffered{partition="0"} 0.0' in text
    assert "telering_worker_receivers_owned 2.0" in text
    assert "telering_worker_leader 0.0" in text and "telering_worker_epoch 0.0" in text
