"""The check that runs before the QApplication: which packages Qt's xcb plugin lacks, or the display.

Real where it can be: the plugin's needs are read with `ldd` from the installed PyQt5 wheel, and
the package list is compared with what `make sysdeps` installs. A missing library is simulated by
a loader that refuses it (hiding a system library from this process is not possible).
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PyQt5.QtCore import QLibraryInfo

from desktop_client import qt_platform

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"
QT_LIBRARY = re.compile(r"^lib(Qt5|icu)")
SYSTEM = re.compile(r"^(linux-vdso|ld-linux|lib(c|m|dl|pthread|rt|stdc\+\+|gcc_s)\.so)")


def plugin_needs() -> set[str]:
    """Every shared library the installed xcb plugin loads, by soname (Qt's own and libc's aside)."""
    plugin = Path(QLibraryInfo.location(QLibraryInfo.PluginsPath)) / "platforms" / "libqxcb.so"
    assert plugin.exists(), plugin
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=True, timeout=60).stdout
    return {line.split()[0] for line in out.splitlines() if "=>" in line}


def make_variable(name: str) -> list[str]:
    text = MAKEFILE.read_text().replace("\\\n", " ")
    match = re.search(rf"^{name} := (.*)$", text, re.MULTILINE)
    assert match is not None, name
    return match[1].split()


@pytest.mark.skipif(shutil.which("ldd") is None, reason="no ldd")
def test_the_package_list_covers_what_the_plugin_loads():
    """Every X, GL and font library ldd shows for libqxcb.so (transitively) has its package named,
    and `make sysdeps` installs them all."""
    direct = {so for so in plugin_needs() if not QT_LIBRARY.match(so) and not SYSTEM.match(so)}
    x_and_gl = {so for so in direct if re.match(r"^lib(xcb|X11|Xext|xkbcommon|GL|EGL|fontconfig|freetype)", so)}
    assert x_and_gl - set(qt_platform.XCB_LIBRARIES) == set()
    installed = set(make_variable("QT_DEBS")) | set(make_variable("XCB_DEBS"))
    assert set(qt_platform.XCB_LIBRARIES.values()) - installed == set()
    assert {"xvfb", "xauth", "x11-utils"} <= set(make_variable("X_TEST_DEBS"))


def test_every_listed_library_loads_here():
    """On this machine (after `make sysdeps`) nothing is missing: the check finds no problem."""
    assert qt_platform.missing_packages() == []
    assert qt_platform.problem({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}) is None


def test_missing_libraries_are_named_by_their_packages():
    absent = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0"}

    def loader(soname: str) -> object:
        if soname in absent:
            raise OSError(f"{soname}: cannot open shared object file: No such file or directory")
        return ctypes.CDLL(soname)

    hint = qt_platform.problem({"DISPLAY": ":0"}, load=loader)  # no QT_QPA_PLATFORM: Qt picks xcb
    assert hint is not None and "\n" not in hint
    assert "missing libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0;" in hint
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0" in hint and "make sysdeps" in hint


def test_other_platforms_are_not_checked():
    def refuse(soname: str) -> object:
        raise OSError(soname)

    for platform in ("offscreen", "wayland", "minimal"):
        assert qt_platform.problem({"QT_QPA_PLATFORM": platform}, load=refuse) is None
    assert qt_platform.platform_name({"QT_QPA_PLATFORM": "xcb:some=option"}) == "xcb"
    assert "wayland" in (qt_platform.problem({"WAYLAND_DISPLAY": "wayland-0"}) or "")
