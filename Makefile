# The course's two commands: `make lab` and `make test`. Both create .venv if it is missing and
# install what the course needs (scripts/bootstrap.py; a re-run with nothing changed takes ~1 s).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8888
LAB_DIR ?= notebooks
# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)
NBVAL_OPTS := --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider

.PHONY: help setup lab test lint test-unit test-solutions test-notebooks student timings clean

help:
	@echo "make lab    set up .venv if needed, then start JupyterLab on $(LAB_DIR)/ (LAB_DIR=solutions for the worked chapters)"
	@echo "make test   set up .venv if needed, then lint, unit tests, and every notebook (solutions/ and notebooks/)"

setup:
	@$(PYTHON) scripts/bootstrap.py $(VENV)

lab: setup
	$(PY) -m jupyter lab --no-browser --port=$(PORT) --ServerApp.root_dir=$(LAB_DIR) $(ROOT_FLAG) \
	  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate $(LAB_ARGS)

test: setup
	@rm -f build/notebook-times.json
	$(MAKE) --no-print-directory lint test-unit test-solutions test-notebooks
	@$(PY) tests/notebook_times.py build/notebook-times.json

lint:
	$(PY) -m ruff check .

test-unit:
	$(PY) -m pytest tests -p no:cacheprovider

# Solutions: stored outputs are compared (tests/nbval_sanitize.cfg masks timings and addresses).
test-solutions:
	$(PY) -m pytest --nbval solutions $(NBVAL_OPTS) --nbval-sanitize-with tests/nbval_sanitize.cfg

# Learner notebooks: every cell must run, unfinished exercises included. Their training cells are the
# same code as the solutions' (run in full above), so here the long trainings run in quick mode.
test-notebooks:
	CVCOURSE_QUICK=1 $(PY) -m pytest --nbval-lax notebooks $(NBVAL_OPTS)

student: setup
	$(PY) -m cvcourse student

clean:
	rm -rf build .pytest_cache
