# callshield: two commands on a fresh machine.
#   make run   - set up .venv with the runtime only and run `callshield serve` on the embedded defaults
#   make test  - set up .venv with the test and training extras and the real-Asterisk sandbox, then run every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per set of extras installed from this pyproject.toml; an install also stamps
# the sets it covers (test and bench include train, which includes the runtime), so
# `make run` after `make test` installs nothing, and `make test` after `make run` adds the extras.
CKSUM := $(shell cksum < pyproject.toml | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(CKSUM)
STAMP_TRAIN := $(STAMP)-train
STAMP_TEST := $(STAMP)-test
STAMP_BENCH := $(STAMP)-bench
# make run CONFIG=/path/to.yaml; by default ./callshield.yaml if present, else the built-in defaults
CONFIG ?=
PYTEST_ARGS ?=
COMMA := ,

.PHONY: install install-train install-test install-bench run test unit integration sandbox bench figures model model-eval clean

# $(call pip_install,EXTRAS,STAMPS): install callshield (editable) with EXTRAS into .venv,
# drop the stamps of other pyproject.toml versions, touch STAMPS.
define pip_install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.$(1)'
	find $(VENV) -maxdepth 1 -name '.installed-*' ! -name '.installed-$(CKSUM)' ! -name '.installed-$(CKSUM)-*' -delete
	touch $(2)
endef

# The runtime: what serve and the CLI need (no training stack).
$(STAMP): pyproject.toml
	$(call pip_install,,$(STAMP))

# lightgbm and numpy for callshield train / eval.
$(STAMP_TRAIN): pyproject.toml
	$(call pip_install,[train],$(STAMP_TRAIN) $(STAMP))

$(STAMP_TEST): pyproject.toml
	$(call pip_install,[test],$(STAMP_TEST) $(STAMP_TRAIN) $(STAMP))

$(STAMP_BENCH): pyproject.toml
	$(call pip_install,[test$(COMMA)bench],$(STAMP_BENCH) $(STAMP_TEST) $(STAMP_TRAIN) $(STAMP))

install: $(STAMP)
install-train: $(STAMP_TRAIN)
install-test: $(STAMP_TEST)
install-bench: $(STAMP_BENCH)

run: install
	mkdir -p var
	$(BIN)/callshield serve $(if $(CONFIG),--config $(CONFIG),)

# The Asterisk sandbox (Debian sid tree with Debian's asterisk package) is cached in
# /var/cache/callshield/asterisk-sid; provisioning needs root (CI runs as root).
sandbox:
	@if [ "$$(id -u)" = 0 ]; then scripts/provision-asterisk.sh; \
	else echo "make sandbox: not root; the real-Asterisk tests need: sudo scripts/provision-asterisk.sh"; fi

test: install-test sandbox
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

unit: install-test
	$(BIN)/python -m pytest -q -m "not asterisk" $(PYTEST_ARGS)

integration: install-test sandbox
	$(BIN)/python -m pytest -q -m asterisk $(PYTEST_ARGS)

bench: install-bench sandbox
	$(BIN)/python bench/score.py
	$(BIN)/python bench/adversarial_parsers.py
	$(BIN)/python bench/route.py
	$(BIN)/python bench/ami_events.py
	$(BIN)/python bench/post_dial_delay.py
	$(BIN)/python bench/agi_screen.py
	$(BIN)/python bench/kill_loss.py
	$(BIN)/python bench/journal_cost.py

# The README's pre-answer rows, measured now: bench/agi_screen.py and bench/post_dial_delay.py
# into bench/figures.json, rendered into README.md (tests/test_docs.py holds the two equal).
figures: install-bench sandbox
	$(BIN)/python bench/readme_figures.py

# Regenerate the bundled Call DNA model (docs/model-card.md): simulated calls, seed 1.
model: install-train
	mkdir -p var
	$(BIN)/callshield simulate --calls 400000 --seed 1 --out var/train.jsonl
	$(BIN)/callshield train --config callshield/models/bundled/simulated.yaml --data var/train.jsonl --out callshield/models/bundled/model.txt --seed 1

# Evaluate the bundled model on a held-out simulated corpus (another seed).
model-eval: install-train
	mkdir -p var
	$(BIN)/callshield simulate --calls 200000 --seed 2 --out var/heldout.jsonl
	$(BIN)/callshield eval --config callshield/models/bundled/simulated.yaml --data var/heldout.jsonl --model callshield/models/bundled/model.txt > var/model-eval.json

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
