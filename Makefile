# The two entry points a new user needs; both set up .venv from nothing when it is missing.
VENV := .venv
DEMO_INDEX := .docqa-demo
QUESTION ?= How does docqa decide to say that it does not know?

.PHONY: setup setup-dev demo test lint fuzz

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

demo: setup
	$(VENV)/bin/docqa --index $(DEMO_INDEX) ingest docs
	$(VENV)/bin/docqa --index $(DEMO_INDEX) ask "$(QUESTION)"

test: setup-dev lint
	$(VENV)/bin/python -m pytest

# The parsers and the sniffer on inputs no earlier run tried: a random seed (printed, to replay
# a failure with --hypothesis-seed), FUZZ_EXAMPLES inputs for each of its 10 strategies.
FUZZ_EXAMPLES ?= 20000
fuzz: setup-dev
	seed=$${FUZZ_SEED:-$$(date +%s)}; echo "fuzz seed $$seed (replay: make fuzz FUZZ_SEED=$$seed)"; \
	DOCQA_FUZZ_RANDOM=1 DOCQA_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/python -m pytest \
		tests/reliability/test_fuzz_parsers.py -rA -q --hypothesis-seed=$$seed

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
