# telering: `make test` runs the whole suite (what .ci/run calls); `make demo` runs the pipeline.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Shared libraries the PyQt5 wheels need for the offscreen platform (no X server, no xvfb) ...
QT_DEBS := libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
# ... and for the xcb platform, the dashboard on an X11 desktop: what `ldd` shows the PyQt5 5.15.11
# wheel's plugins/platforms/libqxcb.so needs (desktop_client/qt_platform.py names the same packages)
XCB_DEBS := libxcb1 libx11-6 libx11-xcb1 libxext6 libfreetype6 libxcb-glx0 libxcb-icccm4 libxcb-image0 \
	libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 \
	libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libxcb-util1 libglx0 libglvnd0
# A virtual X server for the tests of the dashboard under xcb (tests/support/x11.py), and xwininfo
X_TEST_DEBS := xvfb xauth x11-utils
# The compose deployment as network-namespace hosts (tests/cluster, benchmarks.cluster): ip netns,
# unshare (a UTS namespace per host) and setpriv (PostgreSQL as its own user)
CLUSTER_DEBS := iproute2 util-linux haproxy
# A real Alertmanager for the alerting tests (tests/support/alertmanager.py)
ALERT_DEBS := prometheus-alertmanager
SYS_DEBS := $(QT_DEBS) $(XCB_DEBS) $(X_TEST_DEBS) $(CLUSTER_DEBS) $(ALERT_DEBS)

.PHONY: venv sysdeps kafka-jars lint test demo screenshot secrets clean distclean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -e '.[dev]'
	touch $@

sysdeps:
	@missing=$$(for p in $(SYS_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if ! command -v dpkg >/dev/null 2>&1; then \
	  echo "sysdeps: not a Debian system; make sure Qt's libraries and Xvfb are installed: $(SYS_DEBS)" >&2; \
	elif [ -z "$$missing" ]; then \
	  echo "sysdeps: Qt runtime libraries (offscreen, xcb) and Xvfb present"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "sysdeps: not root, cannot install: $$missing (GUI tests may fail)" >&2; \
	else \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@# PostgreSQL's server for the throwaway test cluster (tests/support/postgres.py)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "sysdeps: PostgreSQL server present"; \
	elif ! command -v apt-get >/dev/null 2>&1 || [ "$$(id -u)" != 0 ]; then \
	  echo "sysdeps: cannot install PostgreSQL (needs root on Debian): its tests skip, or fail under CI" >&2; \
	else \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql; \
	fi

kafka-jars: venv
	$(VPY) -m kafka_local fetch
	@# the older release the suite also runs once (tests/integration/test_kafka3_pipeline.py)
	KAFKA_VERSION=3.9.1 $(VPY) -m kafka_local fetch

# ruff (pyproject.toml) is part of the suite: lint and formatting both
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: venv sysdeps kafka-jars lint
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# DEMO_SECONDS=N (environment or `make demo DEMO_SECONDS=N`) bounds the run; unset = until Ctrl-C.
# The demo uses the test kit's process helpers, which the virtualenv does not install: from the checkout.
demo: venv kafka-jars
	PYTHONPATH=$(CURDIR) $(VPY) scripts/demo.py

# The README's dashboard picture, from real pipeline data: a 60 s demo run, the dashboard
# (offscreen) saving itself halfway through.
screenshot: venv sysdeps kafka-jars
	rm -rf .demo-screenshot  # a fresh database: an earlier run's readings would show in the 1 min window
	QT_QPA_PLATFORM=offscreen DEMO_SECONDS=60 DEMO_SCREENSHOT=docs/screenshot.png PYTHONPATH=$(CURDIR) \
		$(VPY) scripts/demo.py --workdir .demo-screenshot --sensors 8 --rate 80

# The compose deployment's CA, certificates, SASL users, grant key, database password and a
# first reader token, in compose/secrets/ (git-ignored); SECRETS_HOSTS=other names for the certs.
secrets: venv
	$(VPY) scripts/make_secrets.py $(foreach h,$(SECRETS_HOSTS),--host $(h))

clean:
	rm -rf build dist *.egg-info .pytest_cache test-output .demo .demo-screenshot .cache/kafka-data
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

# Also the virtualenv and the Kafka jar cache (the next run fetches them again).
distclean: clean
	rm -rf $(VENV) .cache
