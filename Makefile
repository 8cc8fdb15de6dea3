# raytrader — two commands: `make run` and `make test`.
# Both create .venv on first use and install the pinned stack (constraints.txt).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install up down status clean

run: $(STAMP)
	$(BIN)/raytrader up
	$(BIN)/raytrader demo
	$(BIN)/raytrader serve up --demo-token

test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "raytrader needs Python 3.11, found " + sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
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
