# The course's two commands, each doing its own set-up on a fresh machine:
#   make course   execute every notebook in the mini profile (CPU, offline) into outputs/mini/
#   make site     the course's website from that run, into site-build/
#   make test     lint and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.course-installed
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1

FAST := not notebook and not build and not scripts and not colab and not site
# Colab's library versions (configs/colab/gpu-runtime.txt) wherever the course lets them stand.
COLAB_PYTHON ?= $(PYTHON)
COLAB_VENV ?= .venv-colab
COLAB_TORCH ?= 2.13.0

.PHONY: setup course site test lint lock clean colab-versions

$(STAMP): pyproject.toml constraints-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints-cpu.txt -e ".[cpu,jupyter,dev,site]"
	touch $(STAMP)

setup: $(STAMP)

# Ends with one line: whether this run reproduced the reference run (reference/mini-seed0.json).
course: $(STAMP)
	$(OFFLINE) $(PY) -m course_utils run --profile mini --solutions --jobs 2 --out outputs/mini
	@$(PY) -m course_utils compare outputs/mini

# The website from the executed runs (outputs/mini, made by `make course` when missing, and
# outputs/t4 where a run exists) into site-build/; nothing is executed and nothing downloaded.
site: $(STAMP)
	test -f outputs/mini/summary.json || $(MAKE) course
	$(PY) -m course_utils site --out site-build

test: $(STAMP)
	$(PY) -m ruff check course_utils tests notebooks scripts
	$(OFFLINE) $(PY) -m pytest --durations=8

lint: $(STAMP)
	$(PY) -m ruff check course_utils tests notebooks scripts
	$(PY) -m ruff format --check course_utils tests scripts notebooks

# The fast path and the stand-in t4 path on Colab's versions of numpy, matplotlib, tqdm, psutil,
# pandas, ipykernel, ... (everything the course does not pin), with a CPU torch (COLAB_TORCH; CI
# uses Colab's own version from PyTorch's CPU index). COLAB_PYTHON=python3.13 matches Colab.
colab-versions:
	test -x $(COLAB_VENV)/bin/python || $(COLAB_PYTHON) -m venv $(COLAB_VENV)
	grep -vE '^(#|torch|torchvision|torchaudio|triton)' configs/colab/gpu-runtime.txt \
		> $(COLAB_VENV)/colab-constraints.txt
	$(COLAB_VENV)/bin/pip install -q -c $(COLAB_VENV)/colab-constraints.txt "torch==$(COLAB_TORCH)" \
		-e . papermill==2.7.0 ipykernel ipywidgets pytest==9.2.0 nbformat==5.11.1 pyyaml packaging
	$(COLAB_VENV)/bin/pip check
	$(OFFLINE) $(COLAB_VENV)/bin/python -m pytest -q -m "$(FAST)"
	$(OFFLINE) $(COLAB_VENV)/bin/python -m pytest -q tests/test_t4_stand_ins.py

# Re-pin the CPU environment after changing a version in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -e ".[cpu,jupyter,dev,site]"
	(head -n 2 constraints-cpu.txt; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^course') > constraints-cpu.new
	mv constraints-cpu.new constraints-cpu.txt && rm -rf .lock-venv

clean:
	rm -rf outputs build/hub-stand-ins .pytest_cache site-build
