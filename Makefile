# The two entry points a new user needs; both set up .venv from nothing when it is missing.
VENV := .venv
DEMO_INDEX := .docqa-demo
QUESTION ?= How does docqa decide to say that it does not know?

.PHONY: setup setup-dev demo test lint

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

demo: setup
	$(VENV)/bin/docqa --index $(DEMO_INDEX) ingest docs
	$(VENV)/bin/docqa --index $(DEMO_INDEX) ask "$(QUESTION)"

test: setup-dev
	$(VENV)/bin/python -m pytest

lint:
	$(VENV)/bin/ruff check .
