"""A diverging run (lr=1e6: the loss is NaN within a few steps) stops inside its first epoch
and says so: a plain run with one error line and stop_reason "diverged"; in a sweep the trial
is FAIL with reason "diverged: ..." and the sweep still reaches n_trials."""

from __future__ import annotations

import json
import subprocess

import optuna
import pytest
from optuna.trial import TrialState

from diffexp import names
from diffexp.training import records
from tests.conftest import subprocess_env
from tests.reliability.support import assert_one_line_error, run_train, train_command

pytestmark = pytest.mark.slow

DIVERGING = ("optimizer.lr=1e6", "schedule=constant")


def test_plain_run_stops_in_the_first_epoch_with_one_line(tmp_path):
    run_dir = tmp_path / "run"
    process = run_train(f"hydra.run.dir={run_dir}", *DIVERGING)
    assert_one_line_error(process, "diverged", "epoch 1")
    summary = json.loads((run_dir / names.SUMMARY_FILE).read_text())
    assert summary["stop_reason"] == "diverged"
    assert summary["error"].startswith("loss diverged to")
    assert summary["epochs_completed"] == 0
    assert records.read_metrics(run_dir) == []  # no epoch finished with a NaN loss


def test_diverging_trial_fails_and_the_sweep_completes(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    command = train_command(
        "-m",
        "hydra/sweeper=optuna",
        "hydra/sweeper/sampler=grid",  # both values are tried, in a seeded order
        "hydra/sweeper/pruner=none",
        "hydra/launcher=submitit_local",
        "optimizer.lr=choice(1e6,1e-3)",
        "schedule=constant",
        "profile.n_trials=2",
        "profile.n_jobs=1",
        "hydra.sweeper.max_failure_rate=0.5",
        "hydra.sweeper.study_name=diverge",
        f"paths.output_dir={tmp_path / 'outputs'}",
        f"paths.study_storage={storage}",
    )
    process = subprocess.run(
        command, env=subprocess_env(), capture_output=True, text=True, timeout=400
    )
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
    trials = optuna.load_study(study_name="diverge", storage=storage).trials
    assert len(trials) == 2
    by_lr = {t.params["optimizer.lr"]: t for t in trials}
    diverged, good = by_lr[1e6], by_lr[1e-3]
    assert diverged.state == TrialState.FAIL
    assert diverged.user_attrs["fail_reason"].startswith("diverged: loss diverged to")
    assert good.state == TrialState.COMPLETE and good.value > 0
    (sweep,) = (tmp_path / "outputs" / "sweeps").iterdir()
    trial_dir = sweep / f"trial_{diverged.number}"
    summary = json.loads((trial_dir / names.SUMMARY_FILE).read_text())
    assert summary["stop_reason"] == "diverged" and summary["epochs_completed"] == 0
    record = json.loads((trial_dir / "trial.json").read_text())
    assert record["state"] == "FAIL" and record["fail_reason"].startswith("diverged")
