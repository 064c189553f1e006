"""A real X server for tests: Xvfb on a free display number, with its own xauth cookie.

Needs the `xvfb`, `xauth` and `x11-utils` packages (`make sysdeps` installs them). Without them
the tests that ask for `x_server` are skipped with the reason, except under CI=true, where they
fail. Readiness is Xvfb's own word (`-displayfd`: it writes its display number once it accepts
clients), never a sleep; a display number taken meanwhile (Xvfb exits) is retried with the next.
`-noreset` keeps the server as it is when its last client leaves, between one test's clients
and the next's.
"""

from __future__ import annotations

import os
import re
import secrets
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SCREEN = (1600, 1000)
FIRST_DISPLAY = 90
START_TIMEOUT_S = 30.0


@dataclass
class XServer:
    display: str
    authority: Path
    proc: subprocess.Popen

    def env(self) -> dict[str, str]:
        """What a client of this server needs in its environment."""
        return {"DISPLAY": self.display, "XAUTHORITY": str(self.authority)}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_xvfb(workdir: Path, screen: tuple[int, int] = SCREEN, attempts: int = 50) -> XServer:
    """Xvfb on the first free display from FIRST_DISPLAY, accepting only its own cookie."""
    authority = workdir / "Xauthority"
    cookie = secrets.token_hex(16)
    authority.touch(mode=0o600)
    for number in range(FIRST_DISPLAY, FIRST_DISPLAY + attempts):
        if Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
            continue
        subprocess.run(["xauth", "-q", "-f", str(authority), "add", f":{number}", ".", cookie], check=True)
        server = _try_display(number, authority, screen, workdir / f"xvfb-{number}.log")
        if server is not None:
            return server
    raise RuntimeError(f"no free X display in :{FIRST_DISPLAY}..:{FIRST_DISPLAY + attempts - 1}")


def _try_display(number: int, authority: Path, screen: tuple[int, int], log: Path) -> XServer | None:
    ready, announce = os.pipe()
    width, height = screen
    argv = [
        "Xvfb",
        f":{number}",
        "-screen",
        "0",
        f"{width}x{height}x24",
        "-nolisten",
        "tcp",
        "-noreset",
        "-auth",
        str(authority),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "-displayfd", str(announce)],
            pass_fds=(announce,),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    os.close(announce)
    try:
        said = _read_line(ready, time.monotonic() + START_TIMEOUT_S)
    finally:
        os.close(ready)
    if said is None:
        proc.kill()
        raise RuntimeError(f"Xvfb :{number} said nothing within {START_TIMEOUT_S:.0f} s; see {log}")
    if said.strip() == str(number).encode():
        return XServer(f":{number}", authority, proc)
    proc.wait(START_TIMEOUT_S)  # end of file, nothing said: it exited (the display was taken meanwhile)
    return None


def _read_line(fd: int, deadline: float) -> bytes | None:
    """Up to the newline or the end of file; None at the deadline. Xvfb writes the number and
    the newline separately, and dies if the pipe is closed between the two."""
    said = b""
    while not said.endswith(b"\n"):
        readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            return None
        chunk = os.read(fd, 64)
        if not chunk:
            break
        said += chunk
    return said


@dataclass(frozen=True)
class WindowInfo:
    """What `xwininfo` says of a top-level window."""

    window_id: str
    viewable: bool
    x: int
    y: int
    width: int
    height: int


def _xwininfo(server: XServer, *args: str) -> str:
    done = subprocess.run(
        ["xwininfo", *args], env={**os.environ, **server.env()}, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr.strip() or done.stdout.strip()
    return done.stdout


def window_info(server: XServer, title_part: str) -> WindowInfo:
    """The top-level window whose title contains `title_part` (AssertionError until there is one,
    for `eventually`)."""
    tree = _xwininfo(server, "-root", "-children")
    ids = [m[1] for m in re.finditer(r"^\s+(0x[0-9a-f]+) \"([^\n]*)\":", tree, re.MULTILINE) if title_part in m[2]]
    assert ids, f"no window titled ...{title_part}... yet:\n{tree}"
    info = _xwininfo(server, "-id", ids[0])
    fields = dict(re.findall(r"^\s*([A-Z][A-Za-z -]+?):\s+(.*)$", info, re.MULTILINE))
    return WindowInfo(
        ids[0],
        fields.get("Map State") == "IsViewable",
        int(fields["Absolute upper-left X"]),
        int(fields["Absolute upper-left Y"]),
        int(fields["Width"]),
        int(fields["Height"]),
    )


def grab(server: XServer, window: WindowInfo, path: Path) -> Path:
    """The window's pixels as the X server holds them, saved as PNG (Pillow's XCB grab, run in a
    child so the cookie stays out of this process's environment)."""
    box = (window.x, window.y, window.x + window.width, window.y + window.height)
    code = (
        "import sys; from PIL import ImageGrab; "
        f"ImageGrab.grab(bbox={box!r}, xdisplay={server.display!r}).save(sys.argv[1])"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env={**os.environ, **server.env()},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Xvfb is required under CI: {reason}", pytrace=False)
    pytest.skip(f"no X server for the xcb tests: {reason}")


@pytest.fixture(scope="session")
def x_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XServer]:
    """The session's Xvfb (started on first use; skips, or under CI fails, without Xvfb)."""
    absent = [tool for tool in ("Xvfb", "xauth", "xwininfo") if shutil.which(tool) is None]
    if absent:
        _unavailable(f"{', '.join(absent)} not installed (`make sysdeps` installs xvfb xauth x11-utils)")
    server = start_xvfb(tmp_path_factory.mktemp("x11"))
    yield server
    server.stop()
