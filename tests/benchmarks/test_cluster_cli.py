"""`python -m benchmarks.cluster`: its arguments and its answer without root (the runs themselves
need root and ~15 min: the README's command; tests/cluster runs three of them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks import cluster


def test_unknown_scenario_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exc:
        cluster.main(["--json", str(tmp_path / "out.json"), "--scenarios", "broker-leader-kill,nope"])
    assert exc.value.code == 2
    assert "unknown scenario(s) nope" in capsys.readouterr().err


def test_without_root_it_says_why_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cluster.main(["--json", str(tmp_path / "out.json")]) == 2
    assert "need root" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_table_has_the_fault_rows_and_the_scale_rows():
    report = {
        "results": [
            {"scenario": "host-freeze", "sent": 10, "stored": 10, "lost": 0, "duplicated": 0, "recovery_s": 1.5}
        ],
        "scale": [{"workers": 1, "sent": 5, "stored": 5, "offered_per_s": 100.0, "stored_per_s": 50.0}],
    }
    text = cluster.table_of(report)
    assert "| host-freeze | 10 | 10 | 0 | 0 | 1.5 |" in text
    assert "| 1 | 5 | 5 | 100.0 | 50.0 |" in text
