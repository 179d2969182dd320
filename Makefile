# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Both go through `make setup`, which is idempotent and installs only what is missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint clean

setup: $(STAMP)
	@$(BIN)/python -m bots.browser.install

$(STAMP): constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; rcmbot needs Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt pip setuptools
	$(BIN)/pip install --quiet --no-build-isolation -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

demo: setup
	$(BIN)/rcmbot demo

# Three pytest-xdist workers on two cores: the suite waits on browsers, portals and Prefect
# more than it computes. Tests that share a Prefect server or the wheel keep to one worker.
test: lint
	$(BIN)/python -m pytest -n 3 --dist loadgroup

lint: setup
	$(BIN)/ruff format --check bots flows tests
	$(BIN)/ruff check bots flows tests
	$(BIN)/mypy bots flows

clean:
	rm -rf $(VENV) .rcmbot
