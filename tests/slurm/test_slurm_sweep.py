"""A small pruned sweep of the tiny app through submitit_slurm on a real SLURM cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import REPO
from tests.tuning.sweep_helpers import TINY_APP

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_pruned_sweep_runs_as_slurm_jobs(slurm_cluster, tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("DIFFEXP_THREADS", None)  # SLURM_CPUS_PER_TASK sizes the threads there
    command = [
        sys.executable,
        str(TINY_APP),
        "-m",
        f"hydra.searchpath=[file://{REPO / 'conf'}]",
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=10",
        f"paths.study_storage={storage}",
        "profile.n_trials=5",
        "profile.n_jobs=2",
        "task.epochs=4",
        "task.bad_trials=[3,4]",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra.sweeper.pruner.n_warmup_steps=1",
    ]
    process = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    trials = {t.number: t for t in optuna.load_study(study_name="tiny", storage=storage).trials}
    assert len(trials) == 5
    assert {trials[n].state for n in (3, 4)} == {TrialState.PRUNED}
    assert {trials[n].state for n in (0, 1)} == {TrialState.COMPLETE}  # before any pruning
    sweep = tmp_path / "sweeps" / "run"
    job_ids = set()
    for number in trials:
        folder = sweep / f"trial_{number}"
        record = json.loads((folder / "trial.json").read_text())
        assert record["state"] == trials[number].state.name
        job_ids.add((folder / "slurm_job_id.txt").read_text())
        assert (folder / "threads.txt").read_text() == ""  # SLURM_CPUS_PER_TASK rules there
    assert "" not in job_ids and len(job_ids) == 5  # each trial ran as its own SLURM job
