# Two commands on a fresh machine:  `make run`  and  `make test`.
# Both create/update .venv and are safe to repeat: the install step reruns only
# when pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: run test test-fast lab install install-test lint bench replicate clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[notebooks]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,notebooks]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## make run: set up, then train + record + analyse the default study (digits) into data/runs/default
run: install
	$(BIN)/actconf run --out data/runs/default --overwrite $(RUN_ARGS)

## make test: set up with test extras, then run the whole suite (slow tests included:
## notebooks, trainings, the wheel install)
test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make test-fast: the quick loop, everything not marked slow
test-fast: install-test
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## make lab: open JupyterLab on the notebooks (notebooks/ links to src/actconf/study_notebooks);
## this venv's JupyterLab saves widget state in notebooks (the explorer then works without a kernel)
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/actconf.json
$(LAB_OVERRIDES): | $(BIN)/python
	mkdir -p $(@D) && echo '{"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": true}}' > $@

lab: install $(LAB_OVERRIDES)
	$(BIN)/jupyter lab notebooks --allow-root

lint: install-test
	$(BIN)/ruff check src tests benchmarks

## make replicate: the full replication of both papers (hours; resumable) -> docs/replication.md + docs/replication/
replicate: install
	nice -n 10 $(BIN)/actconf replicate --out data/replicate --doc docs/replication.md

## make bench: every benchmarks/bench_*.py (each one's full output kept in benchmarks/out/<name>.log),
## then one summary table (benchmarks/summary.py); about 10 minutes
bench: install-test
	@mkdir -p benchmarks/out
	@for f in benchmarks/bench_*.py; do n=$$(basename $$f .py); echo "== $$n"; t0=$$(date +%s); \
	  { $(BIN)/python $$f; echo $$? > benchmarks/out/$$n.rc; } 2>&1 | tee benchmarks/out/$$n.log; \
	  test "$$(cat benchmarks/out/$$n.rc)" = 0 || exit 1; echo "== $$n took $$(( $$(date +%s) - t0 )) s"; done
	@$(BIN)/python benchmarks/summary.py

clean-venv:
	rm -rf $(VENV)
