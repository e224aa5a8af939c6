# Two commands do everything on a machine with Python 3.11 and pip: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint coverage install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p reports
	$(BIN)/asr-autoupdate apply configs/demo.yaml --report reports/demo.json

# mypy --strict (pyproject's [tool.mypy]) on the package, then on the tests and benchmarks one
# directory at a time: tests/ and three of its folders each hold a conftest.py, and one run over
# all of them would clash on module names. Each run's MYPYPATH is what its imports find at run
# time: pytest puts tests/ on sys.path, the benchmarks put tests/unit. All runs share
# .mypy_cache, so the package and the libraries are analysed once.
TYPED_TEST_DIRS := tests/unit tests/integration tests/emulator

lint: $(STAMP)
	$(BIN)/ruff check orchestrator tests benchmarks
	$(BIN)/ruff format --check orchestrator tests benchmarks
	$(BIN)/mypy
	MYPYPATH=tests $(BIN)/mypy tests/*.py
	for dir in $(TYPED_TEST_DIRS); do MYPYPATH=tests $(BIN)/mypy $$dir || exit 1; done
	MYPYPATH=tests/unit $(BIN)/mypy benchmarks
	$(BIN)/lint-imports

# pytest exits 5 when it collects nothing; make fails on any non-zero exit, so that fails too.
test: lint
	$(BIN)/python -m pytest -n 2

# Coverage of orchestrator/, the CLI subprocesses included (coverage's subprocess patch).
coverage: $(STAMP)
	rm -f .coverage .coverage.*
	$(BIN)/python -m pytest -q -n 2 --cov=orchestrator --cov-report=term

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
