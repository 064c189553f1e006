"""The redraw benchmark runs and reports its figures (a tiny run; speed is reported, never asserted)."""

from __future__ import annotations

import json

import pytest

from benchmarks import redraw

pytestmark = pytest.mark.gui


def test_redraw_benchmark_writes_its_figures(tmp_path):
    out = tmp_path / "redraw.json"
    assert (
        redraw.main(["--sensors", "3", "--points", "500", "--seconds", "0.2", "--size", "800x600", "--json", str(out)])
        == 0
    )
    figures = json.loads(out.read_text())
    assert figures["curves"] == 12
    assert set(figures["scenarios"]) == {"window_10m_live", "window_24h_live", "window_24h_static"}
    assert all(s["frames"] > 0 and s["fps"] > 0 for s in figures["scenarios"].values())
