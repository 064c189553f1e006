"""Key rotation under load (issue 6, 8): add a key, the coordinator switches to it, the old key is
retired — and no batch that should have been accepted is refused, with nothing restarted.

Needs: the session's real Apache Kafka broker, a real web node process, a real worker process and
the simulator, sharing one key file (TELERING_KEYS_FILE) that the test rotates.
"""

from __future__ import annotations

import json
import time

import pytest

from protocol.grants import Grant, GrantCodec, GrantExpired, GrantInvalid
from protocol.keys import add_key, fingerprint, read_key_file, retire_oldest
from protocol.token_messages import GrantMessage
from testkit.observers import TokenWatcher, refusals
from testkit.waiting import eventually
from tests.faults.hostile import post
from tests.support.pipeline import stored_exactly_once
from tests.support.web import make_reading, sensors_of_receiver

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def signed_by(grant: GrantMessage, key: str) -> bool:
    try:
        GrantCodec([key]).verify(grant.token)
    except GrantExpired:
        return True
    except GrantInvalid:
        return False
    return True


def test_rotation_under_load_refuses_nothing(pipeline_factory):
    harness = pipeline_factory(partitions=4)
    web, (worker,) = harness.start()
    (old,) = read_key_file(harness.keys_file)
    with TokenWatcher(harness.bootstrap, harness.topics.token) as tokens:
        simulator, summary_path = harness.start_simulator(
            "--sensors", "16", "--rate", "150", "--duration", "20", "--seed", "11"
        )
        harness.wait_stored(300)

        new = add_key(harness.keys_file)  # 1. both the web node and the coordinator follow the file
        first_new = eventually(
            lambda: tokens.first(lambda m: isinstance(m, GrantMessage) and signed_by(m, new)), timeout=30
        )
        stored_with_new = harness.stored()

        # 2. retire the old key once no grant it signed can still be used
        last_old = max((g for g in tokens.grants() if signed_by(g, old)), key=lambda g: g.epoch)
        assert last_old.epoch < first_new.message.epoch
        eventually(lambda: time.time() > last_old.expires_at, timeout=30)
        retire_oldest(harness.keys_file)
        eventually(
            lambda: f"grant keys reloaded from {harness.keys_file}: {fingerprint(new)} (newest last)" in web.log_text(),
            timeout=30,
            message="the web node did not drop the retired key",
        )
        retired_at = harness.stored()
        eventually(lambda: harness.stored() > retired_at, timeout=30, message="nothing stored after the rotation")

        eventually(lambda: not simulator.alive, timeout=120)
    summary = json.loads(summary_path.read_text())
    stored_exactly_once(harness, summary)
    assert harness.stored() > stored_with_new

    refused = refusals(harness.web_url)
    assert (refused["grant_invalid"], refused["grant_expired"]) == (0, 0), dict(refused)
    assert "refused the grant (401" not in worker.log_text()
    assert worker.alive and web.alive  # rotated without a restart

    # the retired key is refused from now on
    assert read_key_file(harness.keys_file) == [new]
    sid = sensors_of_receiver(0, 4, 1, "rotation-")[0]
    forged = GrantCodec([old]).sign(Grant(0, 10**9, time.time() + 30, harness.app_id))
    assert post(harness.web_url, {"readings": [make_reading(sid, 0)]}, forged)[1]["error"] == "grant_invalid"
