"""The installed product, as a user or the image gets it: the wheel built once per session from
this checkout's files, installed into fresh virtualenvs (one per set of extras, made once).

Needs: pip with PyPI reachable (the dependencies come through pip's cache when it is warm).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(argv: list[str], **kwargs: object) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """telering's wheel, built from a copy of the checkout's files (tracked and new, not ignored),
    so no earlier build's leftovers slip in."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(base / "dist"), str(source)])
    [built] = (base / "dist").glob("telering-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`installed("postgres")` -> the bin/ of a fresh virtualenv holding `telering[postgres]` from
    the wheel (`""`: no extras); each set of extras is installed once per session."""
    made: dict[str, Path] = {}

    def make(extras: str) -> Path:
        if extras not in made:
            home = tmp_path_factory.mktemp(f"venv-{extras or 'plain'}")
            venv.EnvBuilder(with_pip=True).create(home)
            requirement = f"{wheel}[{extras}]" if extras else str(wheel)
            _run([str(home / "bin" / "python"), "-m", "pip", "install", "-q", requirement])
            made[extras] = home / "bin"
        return made[extras]

    return make
