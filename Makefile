# The two commands a new user needs:
#   make run    set up .venv (first time only) and start the app on http://127.0.0.1:7860
#   make test   set up .venv and the test tools (Chromium from Debian when root), then run the tests
# Both are safe to repeat.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup setup-test clean-venv

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

setup-test: $(STAMP)
	@bash scripts/system-deps.sh

run: $(STAMP)
	$(PY) app.py

test: setup-test
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
