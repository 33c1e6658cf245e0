# Two commands a new user needs (README "Quick start"):
#   make demo   run the main job (creates .venv with Python 3.10 if it is missing)
#   make test   lint (ruff check) and run the whole test suite (creates .venv if it is missing)
PY := .venv/bin/python

.PHONY: env demo smoke test lint format bench docs docs-serve clean

env:
	@scripts/bootstrap.sh

demo: env
	$(PY) -m lava_nt.cli eeg run --quick --qat

smoke: env
	$(PY) -m lava_nt.cli smoke

test: env
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: env
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: env
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

bench: env
	$(PY) -m pip install -q -c constraints.txt -e ".[bench]" && $(PY) benchmarks/run_all.py --quick

docs: env
	$(PY) -m mkdocs build --strict

docs-serve: env
	$(PY) -m mkdocs serve

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache
