"""Fixtures of the web node tests (the web node itself comes from tests/support/web.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def report(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], record_property: Callable[[str, object], None]
) -> Callable[[str, float, str], None]:
    """Show a measured figure in the test output even under -q (and record it for junit);
    figures are reported, never asserted on."""

    def emit(name: str, value: float, unit: str) -> None:
        record_property(name, value)
        with capsys.disabled():
            print(f"\n[{request.node.name}] {name}: {value:,.1f} {unit}", end="")

    return emit
