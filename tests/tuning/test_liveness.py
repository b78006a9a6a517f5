"""Liveness, not state (issue 16): heartbeats on real SQLite and journal storages, what a
sweeper does with a silent trial, the budget it counts, and a requeued job's trial.json."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from diffexp.names import PRUNER_ATTR, RUN_DIR_ATTR
from diffexp.training.results import TrainResult
from diffexp.tuning.liveness import (
    HEARTBEAT_LOST,
    Beater,
    Liveness,
    beat,
    fail_stale_trials,
    stale_trials,
)
from diffexp.tuning.storage import (
    STORAGE_PASSWORD_ENV,
    create_storage,
    shown_url,
    url_without_password,
    with_password,
)
from diffexp.tuning.sweeper.async_sweeper import _budget
from diffexp.tuning.sweeper.sampler_seed import derive_seed, shared_seed
from diffexp.tuning.trial.job import TrialJob

QUICK = Liveness(interval=1, grace=2, retries=0)


def _url(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'live.db'}" if kind == "sqlite" else str(tmp_path / "live.log")


def _study(url: str, liveness: Liveness = QUICK):
    storage = create_storage(url, **liveness.storage_kwargs())
    study = optuna.create_study(study_name="live", storage=storage)
    study.set_user_attr(PRUNER_ATTR, {"_target_": "optuna.pruners.NopPruner"})
    return study, storage


def _job_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("- task.x=0.25\n")
    return folder


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_silent_trial_fails_with_its_record_while_a_beating_one_runs_on(kind, tmp_path):
    study, storage = _study(_url(kind, tmp_path))
    silent, alive = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), study.ask()
    folder = _job_folder(tmp_path, "trial_0")
    silent.set_user_attr(RUN_DIR_ATTR, str(folder))
    silent.report(0.5, 1)
    for trial in (silent, alive):
        beat(storage, trial._trial_id)
    beater = Beater(storage, QUICK.interval, [alive._trial_id]).start()
    try:
        time.sleep(QUICK.grace + 2.5)  # the silent trial misses its grace period
        assert fail_stale_trials(study, storage, QUICK) == [silent.number]
    finally:
        beater.stop()
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL
    assert trials[0].user_attrs["fail_reason"].startswith(HEARTBEAT_LOST)
    assert trials[1].state == TrialState.RUNNING  # it beats: never touched
    record = json.loads((folder / "trial.json").read_text())
    assert record["state"] == "FAIL" and record["fail_reason"].startswith(HEARTBEAT_LOST)
    assert record["intermediate_values"] == {"1": 0.5}
    assert record["hyperparameters"] == ["task.x=0.25"]


def test_a_trial_that_never_beat_counts_from_its_start(tmp_path):
    """RUNNING trials of a sweep without heartbeats (an older diffexp, a crash before the first
    beat) are judged by their age, so a restarted sweep does not wait on them for ever."""
    study, storage = _study(_url("sqlite", tmp_path))
    study.ask()
    assert stale_trials(study, storage, QUICK.grace) == []  # young: may still start beating
    time.sleep(QUICK.grace + 1.5)
    assert [t.number for t in stale_trials(study, storage, QUICK.grace)] == [0]


def test_retried_trial_replaces_the_dead_one_in_the_budget(tmp_path):
    liveness = Liveness(interval=1, grace=2, retries=1)
    study, storage = _study(_url("journal", tmp_path), liveness)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    beat(storage, trial._trial_id)
    study.tell(study.ask(), 1.0)
    assert _budget(study) == (2, 1)
    time.sleep(liveness.grace + 1.5)
    assert fail_stale_trials(study, storage, liveness) == [0]
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.WAITING]
    assert trials[2].params == trial.params and "fail_reason" not in trials[2].user_attrs
    assert optuna.storages.RetryFailedTrialCallback.retry_history(trials[2]) == [0]
    assert _budget(study) == (1, 0)  # the FAIL no longer counts; the retry counts once started
    study.ask()
    assert _budget(study) == (2, 1)


def test_liveness_settings_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="grace_period=5 must be longer"):
        Liveness(interval=10, grace=5).check()
    with pytest.raises(ValueError, match="heartbeat_interval=0"):
        Liveness(interval=0, grace=5).check()


def test_sweepers_draw_from_their_own_seed_streams_but_grids_share_one():
    assert derive_seed(123, "s", 1) != derive_seed(123, "s", 2)  # another start
    assert derive_seed(123, "s", 1) != derive_seed(123, "t", 1)  # another study
    assert derive_seed(123, "s", 1) == derive_seed(123, "s", 1)
    assert shared_seed(None, "s") == shared_seed(None, "s") != shared_seed(None, "t")
    assert shared_seed(7, "s") == 7


def test_password_leaves_the_url_and_comes_back_from_the_environment(monkeypatch):
    monkeypatch.delenv(STORAGE_PASSWORD_ENV, raising=False)
    url = "postgresql+psycopg2://bob:p%40ss@db.example:5432/studies"
    bare, password = url_without_password(url)
    assert bare == "postgresql+psycopg2://bob@db.example:5432/studies"
    assert password == "p@ss"
    assert with_password(bare) == bare  # nothing in the environment: the driver's own way
    monkeypatch.setenv(STORAGE_PASSWORD_ENV, password)
    assert with_password(bare) == url
    assert "p@ss" not in shown_url(url) and "p%40ss" not in shown_url(url)
    assert url_without_password("sqlite:///x.db") == ("sqlite:///x.db", None)


def test_sweeper_hands_trials_a_url_without_the_password(monkeypatch):
    from tests.tuning.sweep_helpers import sweeper_impl

    monkeypatch.delenv(STORAGE_PASSWORD_ENV, raising=False)
    impl = sweeper_impl()
    impl.storage = "postgresql://bob:secret@127.0.0.1/db"
    impl._hide_password()
    assert impl.storage == "postgresql://bob@127.0.0.1/db"
    import os

    assert os.environ[STORAGE_PASSWORD_ENV] == "secret"


def _result(run_dir: Path, losses: list[float]) -> TrainResult:
    best = min(losses)
    return TrainResult(best, losses.index(best) + 1, losses[-1], 1.0, 5, "completed", run_dir)


def test_requeued_job_records_every_epoch_of_its_trial(tmp_path):
    """SLURM requeue: the first run reports epochs 1-3 and is killed (SystemExit, as on
    SIGTERM); the requeued run resumes at epoch 4. trial.json lists epochs 1-5."""
    url = _url("sqlite", tmp_path)
    study, _ = _study(url)
    number = study.ask().number
    run_dir = tmp_path / "trial_0"
    run_dir.mkdir()

    def first_run(reporter):
        for epoch in (1, 2, 3):
            reporter.report(epoch, 1.0 / epoch)
        raise SystemExit(143)

    with pytest.raises(SystemExit):
        TrialJob(run_dir, "live", url, number).run(first_run)

    def resumed(reporter):
        for epoch in (4, 5):
            reporter.report(epoch, 1.0 / epoch)
        return _result(run_dir, [1.0, 0.5, 1 / 3, 0.25, 0.2])

    assert TrialJob(run_dir, "live", url, number).run(resumed) == pytest.approx(0.2)
    record = json.loads((run_dir / "trial.json").read_text())
    assert list(record["intermediate_values"]) == ["1", "2", "3", "4", "5"]
    assert study.get_trials()[0].user_attrs[RUN_DIR_ATTR] == str(run_dir.resolve())


def test_job_does_not_train_a_trial_that_is_already_finished(tmp_path):
    url = _url("sqlite", tmp_path)
    study, _ = _study(url)
    number = study.ask().number
    study.tell(number, state=TrialState.FAIL)
    calls = []
    value = TrialJob(tmp_path, "live", url, number).run(lambda reporter: calls.append(1))
    assert math.isnan(value) and calls == []
