# diffexp: `make help` lists the targets. Everything installs itself into .venv on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= default
LAUNCHER ?= pool
ARGS ?=
STUDY ?=
# pytest-xdist workers of `make test`; tests sharing a fixture share one (tests/xdist_groups.py)
TEST_WORKERS ?= 2
export TF_CPP_MIN_LOG_LEVEL ?= 2

.DEFAULT_GOAL := help

.PHONY: help install install-postgres install-gp install-synetune install-gpu demo test test-fast lint train lr-find phase1 phase1b phase2 phase3 analyze \
        dashboard pmt-selection bench lock clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=smoke|default|cluster  LAUNCHER=pool|submitit_local|submitit_slurm|basic  ARGS='extra overrides'  TEST_WORKERS=2"

EXAMPLE_DENOISER := examples/ring_conv_denoiser

$(VENV)/.installed: pyproject.toml requirements.lock $(EXAMPLE_DENOISER)/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	$(PY) -m pip install -q -c requirements.lock --no-deps -e $(EXAMPLE_DENOISER)
	@touch $@

install: $(VENV)/.installed ## create .venv, install diffexp (pinned) and the example denoiser package

install-postgres: ## install the PostgreSQL driver (extra `postgres`; `make install` has it already)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements.lock -e ".[postgres]"

install-gp: install ## add PyTorch for Optuna's GP sampler (hydra/sweeper/sampler=gp; ~5 GB, CUDA build)
	$(PY) -m pip install -q -c requirements.lock -c requirements-gp.lock -e ".[gp]"

install-synetune: install ## add Syne Tune, the replay bench's ASHA/Hyperband/BOHB peers (~0.6 GB with xgboost)
	$(PY) -m pip install -q -c requirements.lock -c requirements-synetune.lock -e ".[synetune]"

install-gpu: install ## swap tensorflow-cpu for tensorflow[and-cuda] (same version) in .venv
	$(PY) -m pip uninstall -q -y tensorflow-cpu
	$(PY) -m pip install -q "tensorflow[and-cuda]==2.21.0"
	$(PY) -c "import tensorflow as tf; print('GPUs:', tf.config.list_physical_devices('GPU'))"

demo: install ## the whole workflow at laptop scale: phase 1 -> analyze -> phase 2 -> phase 3
	$(PY) -m diffexp.demo profile=$(PROFILE) launcher=$(LAUNCHER) $(ARGS)

test: install ## run the test suite on TEST_WORKERS=2 workers (slow, SLURM and all; a SLURM test skips without a cluster)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(ARGS)

test-fast: install ## the tests that take seconds (no subprocess sweeps)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not slow and not slurm" $(ARGS)

lint: install ## ruff check + format check
	$(VENV)/bin/ruff check diffexp hydra_plugins tests examples benchmarks
	$(VENV)/bin/ruff format --check diffexp hydra_plugins tests examples benchmarks

train: install ## one training run with the default config (ARGS='optimizer.lr=5e-5 ...')
	$(PY) -m diffexp.train profile=$(PROFILE) $(ARGS)

lr-find: install ## LR range test: plot and suggested lr / cyclical bounds
	$(PY) -m diffexp.train profile=$(PROFILE) trainer.lr_find=true experiment_name=lr_find $(ARGS)

phase1: install ## phase 1: parallel, pruned Optuna search of lr, hidden_dim, t_emb_dim
	$(PY) -m diffexp.phases phase1 profile=$(PROFILE) launcher=$(LAUNCHER) $(ARGS)

phase1b: install ## staged search: the remaining hyperparameters with phase 1's best fixed
	$(PY) -m diffexp.phases phase1b profile=$(PROFILE) launcher=$(LAUNCHER) $(ARGS)

phase2: install ## phase 2: train phase 1's best trial to convergence (refine budget)
	$(PY) -m diffexp.phases phase2 profile=$(PROFILE) $(ARGS)

phase3: install ## phase 3: physics verification of the latest phase-2 model (plots, score)
	$(PY) -m diffexp.phases phase3 $(ARGS)

analyze: install ## explain the latest study (STUDY=name for another): TOP-5, importance, recommendations, plots
	$(PY) -m diffexp.analyze $(if $(STUDY),--study $(STUDY)) $(ARGS)

dashboard: install ## optuna-dashboard on the shared study storage (127.0.0.1:8080)
	$(VENV)/bin/optuna-dashboard --host 127.0.0.1 --port 8080 sqlite:///outputs/optuna_study.db

pmt-selection: install ## rank PMTs by Fisher information; Cramer-Rao curves vs random subsets
	$(PY) -m diffexp.select_pmts $(ARGS)

bench: install ## measure every speed claim side by side, tuning peers and time to quality included (ARGS='bench.size=smoke')
	$(PY) -m benchmarks $(ARGS)

lock: ## regenerate requirements.lock from a fresh venv (after changing a pin)
	rm -rf /tmp/diffexp-lock && $(PYTHON) -m venv /tmp/diffexp-lock
	/tmp/diffexp-lock/bin/pip install -q -e ".[dev]"
	( sed -n '1,2p' requirements.lock; /tmp/diffexp-lock/bin/pip freeze --exclude-editable ) > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean: ## remove outputs/ (runs, sweeps, study database, caches) but keep its README
	find outputs -mindepth 1 ! -name README.md -exec rm -rf {} +
