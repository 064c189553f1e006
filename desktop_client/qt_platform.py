"""Can Qt's platform plugin start here? Asked before the QApplication, because Qt aborts the
process ("Could not load the Qt platform plugin xcb") when it cannot, with no word of what is
missing. `problem()` names the Debian/Ubuntu packages to install, or the missing display.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping

# What the PyQt5 5.15.11 wheel's plugins/platforms/libqxcb.so (and its libQt5XcbQpa.so.5) load
# beyond the Qt libraries it ships and the C runtime, by soname, with the Debian/Ubuntu package of
# each (`ldd` on the plugin; tests/desktop_client/test_qt_platform.py checks the list against it,
# and that `make sysdeps` installs them all).
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libXext.so.6": "libxext6",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}

Loader = Callable[[str], object]


def platform_name(environ: Mapping[str, str]) -> str:
    """The platform Qt will use: QT_QPA_PLATFORM's first choice, xcb (the default on Linux) if unset."""
    return (environ.get("QT_QPA_PLATFORM") or "xcb").split(";")[0].split(":")[0].strip() or "xcb"


def missing_packages(load: Loader = ctypes.CDLL) -> list[str]:
    """The packages whose libraries the xcb plugin needs and the dynamic loader cannot find."""
    missing: dict[str, None] = {}
    for soname, package in XCB_LIBRARIES.items():
        try:
            load(soname)
        except OSError:
            missing[package] = None
    return list(missing)


def problem(environ: Mapping[str, str], load: Loader = ctypes.CDLL) -> str | None:
    """A one-line hint if Qt's platform plugin cannot start in this environment, else None."""
    if platform_name(environ) != "xcb":
        return None
    missing = missing_packages(load)
    if missing:
        return (
            f"Qt's xcb platform plugin cannot load: missing {' '.join(missing)}; install them "
            f"(sudo apt-get install {' '.join(missing)}, or `make sysdeps` as root), "
            "or run with QT_QPA_PLATFORM=offscreen"
        )
    if not environ.get("DISPLAY"):
        wayland = " (a Wayland session: try QT_QPA_PLATFORM=wayland)" if environ.get("WAYLAND_DISPLAY") else ""
        return (
            f"no X display: DISPLAY is not set{wayland}; run the dashboard in a desktop session, "
            "or with QT_QPA_PLATFORM=offscreen and --screenshot"
        )
    return None
