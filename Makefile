# raytrader — two commands: `make run` and `make test`.
# Both create .venv on first use and install the pinned stack (constraints.txt).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install up down status clean system-packages chromium setup

run:
	@$(MAKE) --no-print-directory -j2 $(STAMP) system-packages
	$(BIN)/raytrader up
	$(BIN)/raytrader demo
	$(BIN)/raytrader serve up --demo-token

# TEST_WORKERS=2 (the default): two pytest-xdist workers, each with a test cluster of its own, a whole file (or the
# tests that share a session: tests/_xdist.py) at a time, the longest first: 17-22 min of pytest in fresh clones on
# 2 cores (2026-12-03: 17:34, 17:38, 21:12, 19:34; README "Tests"), against ~19-20 min serial.
# `make test TEST_WORKERS=0`: one pytest process, one test cluster (serial).
TEST_WORKERS ?= 2

test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=30

install: setup

# The venv and the system packages at once: the Python install and apt-get do not wait on each other (2026-12-03,
# fresh clone, neither package there: 76 s for the whole set-up, against 135 s one step after the other with pip).
# chromium's apt-get waits for prometheus' (dpkg takes one at a time).
setup:
	@$(MAKE) --no-print-directory -j2 $(STAMP) chromium

# Debian's prometheus (`raytrader up` starts it; the tests query it and run promtool), where it is missing and we
# may install packages (root with apt-get); otherwise a note, and `raytrader up` runs without it.
system-packages:
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's prometheus (apt-get)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends prometheus >/dev/null; } || \
	      echo "note: could not install prometheus; raytrader up will run without it"; \
	  else \
	    echo "note: prometheus is not installed (as root: apt-get install prometheus); raytrader up runs without it"; \
	  fi; }

# Debian's chromium: tests/cluster/test_report_browser.py opens every kind of HTML report in it (headless), where it
# is missing and we may install packages (root with apt-get); otherwise a note (that test then fails saying why).
chromium: system-packages
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium (apt-get) for the report browser tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } || \
	      echo "note: could not install chromium; tests/cluster/test_report_browser.py will fail until it is installed"; \
	  else \
	    echo "note: chromium is not installed (as root: apt-get install -y chromium); the report browser tests need it"; \
	  fi; }

# The pinned stack is installed by uv (UV_VERSION, installed into the venv by pip) where it can be had, else by pip:
# uv fetches and unpacks in parallel (2026-12-03, fresh clone, 2 cores: the install step 28 s with uv against ~67 s
# with pip, the same packages; `pip freeze` identical). uv reads no pip configuration, so pip's find-links (where
# the project machines keep torch's CPU wheel) is handed to it. Either installs with no byte-compiling, and
# compileall byte-compiles site-packages on every CPU (~44 s): pip's own compile runs in one process (~120 s of
# CPU), and leaving it to the first imports made ray/torch/qiskit take 92 s instead of 13 s. A file that does not
# compile (torch/testing/_internal/py312_intrinsics.py is Python 3.12 syntax) is skipped, as pip skips it.
UV_VERSION := 0.13.9

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "raytrader needs Python 3.11, found " + sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@links=""; for l in $${PIP_FIND_LINKS:-$$($(BIN)/python -m pip config get global.find-links 2>/dev/null)}; do \
	  links="$$links --find-links $$l"; done; \
	if $(BIN)/python -m pip install -q "uv==$(UV_VERSION)" 2>/dev/null; then \
	  echo "installing the pinned stack with uv $(UV_VERSION)"; \
	  $(BIN)/uv pip install -q --python $(BIN)/python $$links -c constraints.txt -e ".[dev]" && exit 0; \
	  echo "uv could not install the stack: pip installs it"; \
	fi; \
	$(BIN)/python -m pip install -q --upgrade pip && \
	$(BIN)/python -m pip install -q --no-compile -c constraints.txt -e ".[dev]"
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/raytrader up

down: $(STAMP)
	$(BIN)/raytrader down

status: $(STAMP)
	$(BIN)/raytrader status

clean:
	-$(BIN)/raytrader down
	rm -rf $(VENV) .pytest_cache .hypothesis
