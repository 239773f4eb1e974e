# The course's two commands: `make lab` and `make test`. Both create .venv if it is missing and
# install what the course needs (scripts/bootstrap.py; a re-run with nothing changed takes ~1 s).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8888
LAB_DIR ?= notebooks
# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)
# The browser tests (tests/e2e) run when a Chromium is installed (Debian: apt-get install chromium).
CHROMIUM ?= $(or $(CVCOURSE_CHROMIUM),$(shell command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null))
NBVAL_OPTS := --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider

.PHONY: help setup lab test lint test-unit test-e2e test-solutions test-notebooks student handout timings clean

help:
	@echo "make lab    set up .venv if needed, then start JupyterLab on $(LAB_DIR)/ (LAB_DIR=solutions for the worked chapters)"
	@echo "make test   set up .venv if needed, then lint, unit tests, every notebook (solutions/ and notebooks/)"
	@echo "            and, when Chromium is installed, the browser tests (make test-e2e)"

setup:
	@$(PYTHON) scripts/bootstrap.py $(VENV)

# The course opens on its index, 00_start_here.ipynb; open the printed http://127.0.0.1:... link.
lab: setup
	$(PY) -m jupyter lab --no-browser --port=$(PORT) --ServerApp.root_dir=$(LAB_DIR) $(ROOT_FLAG) \
	  --LabApp.default_url=/lab/tree/00_start_here.ipynb \
	  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate $(LAB_ARGS)

test: setup
	@rm -f build/notebook-times.json
	$(MAKE) --no-print-directory lint test-unit test-solutions test-notebooks $(if $(CHROMIUM),test-e2e,)
	@$(if $(CHROMIUM),,echo "note: no Chromium found, the browser tests (make test-e2e) were skipped")
	@$(PY) tests/notebook_times.py build/notebook-times.json

lint:
	$(PY) -m ruff check .

test-unit:
	$(PY) -m pytest tests --ignore=tests/e2e -p no:cacheprovider

# JupyterLab in a real browser: `make lab` on a copy of notebooks/, chapters run through the UI;
# screenshots in build/e2e/.
test-e2e: setup
	@test -n "$(CHROMIUM)" || { echo "make test-e2e: no Chromium found; install it (Debian: sudo apt-get install chromium) or set CVCOURSE_CHROMIUM=/path/to/chromium"; exit 1; }
	CVCOURSE_CHROMIUM=$(CHROMIUM) $(PY) -m pytest tests/e2e -p no:cacheprovider -v

# Solutions: stored outputs are compared (tests/nbval_sanitize.cfg masks timings and addresses).
test-solutions:
	$(PY) -m pytest --nbval solutions $(NBVAL_OPTS) --nbval-sanitize-with tests/nbval_sanitize.cfg

# Learner notebooks: every cell must run, unfinished exercises included. Their training cells are the
# same code as the solutions' (run in full above), so here the long trainings run in quick mode.
test-notebooks:
	CVCOURSE_QUICK=1 $(PY) -m pytest --nbval-lax notebooks $(NBVAL_OPTS)

student: setup
	$(PY) -m cvcourse student

# The folder (and zip) an instructor hands out: learner notebooks, the package's wheel, requirements.
handout: setup
	$(PY) -m cvcourse student --out handout --zip --force

clean:
	rm -rf build .pytest_cache
