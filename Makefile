# The two commands a fresh clone needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# One pytest process per core and one more (pytest-xdist): part of the suite's time is spent
# waiting on the processes and browsers it starts, which an extra worker fills (2 cores, both
# databases, back to back: 179.6 s with 2 workers, 162.7 s with 3). `make test PYTEST_ARGS=`
# runs in one process.
CORES := $(shell $(PYTHON) -c 'import os; print(os.cpu_count() or 1)')
TEST_WORKERS := $(shell echo $$(( $(CORES) + 1 )))
PYTEST_ARGS ?= -n $(TEST_WORKERS) --dist worksteal

.PHONY: run test lint bench soak clean

# uv (from PyPI, installed by pip) fills a new .venv in ~30 s where pip took ~60 s, a sixth of a
# CI run; where uv cannot be installed or cannot install them, pip does it as before.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing Parley and its dependencies into $(VENV) …"
	@if $(BIN)/python -m pip install --quiet uv 2>/dev/null \
	  && $(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'; \
	then :; else \
	  echo "uv could not install them (it reads no pip.conf: a mirror, a proxy's certificate?); using pip"; \
	  $(BIN)/python -m pip install --quiet --upgrade pip \
	  && $(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]'; \
	fi
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/bot db upgrade
	$(BIN)/bot serve

# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (.gitignore has __pycache__):
# else every xdist worker rewrites every test module again (collecting took 13.7 s of CPU a
# worker without the cache, 6.9 s with) and every `bot` child of the process tests compiles bot/.
# mypy checks modules that do not import each other in parallel, one worker a core (mypy 2's
# documented, still experimental -n; an older mypy ignores the variable): 6.6 s against 10.4 s
# here on a new clone, the same findings.
test: $(STAMP)
	$(BIN)/ruff check .
	MYPY_NUM_WORKERS=$(CORES) $(BIN)/mypy
	@.ci/ensure-chromium
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/inbound.py

soak: $(STAMP)
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
