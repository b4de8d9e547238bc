# The course's two commands, each doing its own set-up on a fresh machine:
#   make course   execute every notebook in the mini profile (CPU, offline) into outputs/mini/
#   make test     lint and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.course-installed
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: setup course test lint lock clean

$(STAMP): pyproject.toml constraints-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints-cpu.txt -e ".[cpu,jupyter,dev]"
	touch $(STAMP)

setup: $(STAMP)

course: $(STAMP)
	$(OFFLINE) $(PY) -m course_utils run --profile mini --out outputs/mini

test: $(STAMP)
	$(PY) -m ruff check course_utils tests notebooks scripts
	$(OFFLINE) $(PY) -m pytest --durations=8

lint: $(STAMP)
	$(PY) -m ruff check course_utils tests notebooks scripts
	$(PY) -m ruff format --check course_utils tests scripts

# Re-pin the CPU environment after changing a version in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -e ".[cpu,jupyter,dev]"
	(head -n 2 constraints-cpu.txt; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^course') > constraints-cpu.new
	mv constraints-cpu.new constraints-cpu.txt && rm -rf .lock-venv

clean:
	rm -rf outputs models .pytest_cache
