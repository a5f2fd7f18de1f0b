# The two commands that matter: `make up` runs the pipeline, `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

TYPES := $(VENV)/typecheck
# The folders that pyproject.toml maps into the cartsim namespace (api -> cartsim.api, ...).
MAPPED := $(shell sed -n '/^\[tool.setuptools.package-dir\]/,/^\[/ s/^"cartsim\.\([a-z_]*\)" = .*/\1/p' pyproject.toml)

.PHONY: up test lint typecheck bench clean debian-test debian-bench

# Debian packages the tests and benches drive, installed when their command is missing (as root,
# or through sudo): `$(call debian,COMMAND,PACKAGES)`.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
define debian
	@command -v $(1) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq $(2); } || { echo "needs Debian's $(2): apt-get install $(2)"; exit 1; }
endef

up: $(STAMP)
	$(BIN)/cartsim up

test: $(STAMP) debian-test
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

bench: $(STAMP) debian-bench
	$(BIN)/python -m bench

# The dashboard's browser test drives Chromium through chromedriver; the Spark engine needs Java 17.
debian-test:
	$(call debian,chromium,chromium)
	$(call debian,chromedriver,chromium-driver)
	$(call debian,java,openjdk-17-jre-headless)

# The API's load is measured with wrk, a compiled client (bench/wrk.py); the Spark row needs Java.
debian-bench:
	$(call debian,wrk,wrk)
	$(call debian,java,openjdk-17-jre-headless)

# Installs exactly the pinned versions of requirements.lock, then the project itself.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
