"""TrialJob and TrialReporter against a real SQLite study: each way a trial can end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from diffexp.training.results import DivergedError, TrainResult
from diffexp.tuning.trial.job import TrialJob
from diffexp.tuning.trial.reporter import TrialReporter

MEDIAN = {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 1, "n_warmup_steps": 0}


def _result(run_dir: Path, losses: list[float]) -> TrainResult:
    return TrainResult(
        min(losses),
        losses.index(min(losses)) + 1,
        losses[-1],
        1.5,
        len(losses),
        "completed",
        run_dir,
    )


def _trainer(run_dir: Path, losses: list[float], fail: Exception | None = None):
    def train(reporter):
        for epoch, loss in enumerate(losses, start=1):
            if fail is not None and epoch == 2:
                raise fail
            reporter.report(epoch, loss)
        return _result(run_dir, losses)

    return train


def _job(study: optuna.Study, url: str, run_dir: Path) -> TrialJob:
    trial = study.ask()
    return TrialJob(run_dir, study.study_name, url, trial.number)


def test_plain_run_only_trains(tmp_path):
    cfg = OmegaConf.create({"tuning": {"study_name": None, "storage": None, "trial_number": None}})
    job = TrialJob.from_config(cfg, tmp_path)
    assert (
        job.run(lambda reporter: _result(tmp_path, [3.0, 2.0]) if reporter is None else None) == 2.0
    )
    assert not (tmp_path / "trial.json").exists()


def test_from_config_refuses_partial_tuning_keys(tmp_path):
    cfg = OmegaConf.create({"tuning": {"study_name": None, "storage": None, "trial_number": 3}})
    with pytest.raises(ValueError, match="tuning.study_name"):
        TrialJob.from_config(cfg, tmp_path)


def test_complete_trial_is_told_and_recorded(tmp_path, make_study, sqlite_url):
    study = make_study()
    value = _job(study, sqlite_url, tmp_path).run(_trainer(tmp_path, [3.0, 2.0, 2.5]))
    trial = study.get_trials()[0]
    assert value == 2.0
    assert trial.state == TrialState.COMPLETE and trial.value == 2.0
    assert trial.intermediate_values == {1: 3.0, 2: 2.0, 3: 2.5}
    record = json.loads((tmp_path / "trial.json").read_text())
    assert record["state"] == "COMPLETE" and record["trial_number"] == 0
    assert record["results"]["best_val_loss"] == 2.0
    assert record["results"]["final_train_loss"] == 2.5
    assert record["pruned_at_epoch"] is None


def test_worse_trial_is_pruned_with_last_value(tmp_path, make_study, sqlite_url):
    study = make_study(pruner=MEDIAN)
    _job(study, sqlite_url, tmp_path / "a").run(_trainer(tmp_path, [1.0, 0.5, 0.4]))
    job = _job(study, sqlite_url, tmp_path / "b")
    value = job.run(_trainer(tmp_path, [5.0, 4.0, 3.0]))
    trial = study.get_trials()[1]
    assert trial.state == TrialState.PRUNED
    assert value == 5.0 and trial.value == 5.0  # pruned after its first epoch
    record = json.loads((tmp_path / "b" / "trial.json").read_text())
    assert record["state"] == "PRUNED" and record["pruned_at_epoch"] == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (DivergedError(2, 7, math.nan), "diverged: loss diverged to nan at epoch 2"),
        (RuntimeError("out of coffee"), "RuntimeError: out of coffee"),
    ],
)
def test_failing_trial_is_fail_with_reason(tmp_path, make_study, sqlite_url, error, reason):
    study = make_study()
    with pytest.raises(type(error)):
        _job(study, sqlite_url, tmp_path).run(_trainer(tmp_path, [1.0, 2.0], fail=error))
    trial = study.get_trials()[0]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_reason"].startswith(reason)
    record = json.loads((tmp_path / "trial.json").read_text())
    assert record["state"] == "FAIL" and record["fail_reason"].startswith(reason)
    assert record["intermediate_values"] == {"1": 1.0}


def test_reporter_skips_non_finite_values(make_study):
    study = make_study()
    trial = study.ask()
    reporter = TrialReporter(trial)
    reporter.report(1, 2.0)
    reporter.report(2, math.inf)
    assert study.get_trials()[0].intermediate_values == {1: 2.0}
    assert reporter.last_value == 2.0
