# The two commands that matter: `make up` runs the pipeline, `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

TYPES := $(VENV)/typecheck
# The folders that pyproject.toml maps into the cartsim namespace (api -> cartsim.api, ...).
MAPPED := $(shell sed -n '/^\[tool.setuptools.package-dir\]/,/^\[/ s/^"cartsim\.\([a-z_]*\)" = .*/\1/p' pyproject.toml)

.PHONY: up test lint typecheck bench clean

up: $(STAMP)
	$(BIN)/cartsim up

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/pytest

# mypy cannot follow setuptools' editable-install import hook, so it reads the package through
# links laid out as installed: cartsim/ with each mapped service folder inside it.
typecheck: $(STAMP)
	rm -rf $(TYPES) && mkdir -p $(TYPES)/cartsim
	ln -s $(CURDIR)/cartsim/* $(TYPES)/cartsim/
	$(foreach dir,$(MAPPED),ln -s $(CURDIR)/$(dir) $(TYPES)/cartsim/$(dir);)
	MYPYPATH=$(TYPES) $(BIN)/mypy -p cartsim

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The API's load is measured with Debian's wrk, a compiled client (bench/wrk.py).
bench: $(STAMP)
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq wrk; } || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench

# Installs exactly the pinned versions of requirements.lock, then the project itself.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
