# Everything sets itself up: `make test` and `make demo` work on a fresh clone with Python >= 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo bench validate docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# reinstall when the package metadata changes
$(STAMP): pyproject.toml | $(BIN)/python
	@echo ">> installing liq-indicator with freqtrade, plot and dev extras into $(VENV) (about a minute)"
	$(BIN)/python -m pip install --quiet -e '.[freqtrade,plot,dev]'
	@touch $@

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# tests/ and the docstring examples in liq_indicator/ (pyproject: testpaths, --doctest-modules)
test: $(STAMP) lint
	$(BIN)/python -m pytest -ra

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# accuracy against real and simulated liquidations (docs/VALIDATION.md) and the trading claims
# (docs/CLAIMS.md); both need ../shared/data
validate: $(STAMP)
	$(BIN)/liq-indicator validate
	$(BIN)/python benchmarks/trading_claims.py

docs: $(STAMP)
	$(BIN)/liq-indicator features --doc > docs/FEATURES.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .demo
