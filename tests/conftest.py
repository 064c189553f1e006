"""Suite-wide pytest set-up: fixtures live in ``tests/support`` plugin modules listed here.

Add your own plugin module to ``pytest_plugins`` rather than growing this file.
"""

pytest_plugins = [
    "tests.support.kafka",
    "tests.support.postgres",
    "tests.support.web",
    "tests.support.pipeline",
    "tests.support.secure",
    "tests.support.x11",
    "tests.support.alertmanager",
]
