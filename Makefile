# callshield: two commands on a fresh machine.
#   make run   - set up .venv and run `callshield serve` on the embedded defaults
#   make test  - set up .venv and the real-Asterisk sandbox, then run every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# make run CONFIG=/path/to.yaml; by default ./callshield.yaml if present, else the built-in defaults
CONFIG ?=
PYTEST_ARGS ?=

.PHONY: install run test unit integration sandbox bench model model-eval clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: install
	mkdir -p var
	$(BIN)/callshield serve $(if $(CONFIG),--config $(CONFIG),)

# The Asterisk sandbox (Debian sid tree with Debian's asterisk package) is cached in
# /var/cache/callshield/asterisk-sid; provisioning needs root (CI runs as root).
sandbox:
	@if [ "$$(id -u)" = 0 ]; then scripts/provision-asterisk.sh; \
	else echo "make sandbox: not root; the real-Asterisk tests need: sudo scripts/provision-asterisk.sh"; fi

test: install sandbox
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

unit: install
	$(BIN)/python -m pytest -q -m "not asterisk" $(PYTEST_ARGS)

integration: install sandbox
	$(BIN)/python -m pytest -q -m asterisk $(PYTEST_ARGS)

bench: install sandbox
	$(BIN)/python bench/score.py
	$(BIN)/python bench/adversarial_parsers.py
	$(BIN)/python bench/route.py
	$(BIN)/python bench/ami_events.py
	$(BIN)/python bench/post_dial_delay.py
	$(BIN)/python bench/agi_screen.py
	$(BIN)/python bench/kill_loss.py
	$(BIN)/python bench/journal_cost.py

# Regenerate the bundled Call DNA model (docs/model-card.md): simulated calls, seed 1.
model: install
	mkdir -p var
	$(BIN)/callshield simulate --calls 400000 --seed 1 --out var/train.jsonl
	$(BIN)/callshield train --config callshield/models/bundled/simulated.yaml --data var/train.jsonl --out callshield/models/bundled/model.txt --seed 1

# Evaluate the bundled model on a held-out simulated corpus (another seed).
model-eval: install
	mkdir -p var
	$(BIN)/callshield simulate --calls 200000 --seed 2 --out var/heldout.jsonl
	$(BIN)/callshield eval --config callshield/models/bundled/simulated.yaml --data var/heldout.jsonl --model callshield/models/bundled/model.txt > var/model-eval.json

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
