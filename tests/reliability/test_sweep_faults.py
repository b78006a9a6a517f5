"""Sweeper faults, against the sweeper as it is (tests/tuning covers its own cases: a trial
that kills itself, a killed and re-run sweeper, 8 parallel trials on SQLite and journal).
Here: a trial worker killed from outside, and bad search spaces or storage given to a sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import REPO, subprocess_env
from tests.reliability.support import assert_one_line_error, train_command, wait_for
from tests.tuning.sweep_helpers import TINY_APP


def _tiny_sweep(storage: str, *overrides: str) -> list[str]:
    return [
        sys.executable,
        str(TINY_APP),
        "-m",
        f"hydra.searchpath=[file://{REPO / 'conf'}]",
        "hydra/launcher=submitit_local",
        f"paths.study_storage={storage}",
        *overrides,
    ]


def _alive_trial_pids(sweep_dir: Path) -> list[int]:
    """The processes that run trials: submitit's local executor names each job folder by the
    pid of a controller, which runs the task as its child."""
    pids = []
    for folder in (sweep_dir / ".submitit").glob("*"):
        children = Path(f"/proc/{folder.name}/task/{folder.name}/children")
        if folder.name.isdigit() and children.exists():
            pids.extend(int(pid) for pid in children.read_text().split())
    return sorted(pids)


@pytest.mark.slow
def test_trial_worker_killed_from_outside_fails_and_the_sweep_reaches_n_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    sweep = subprocess.Popen(
        _tiny_sweep(
            storage,
            "profile.n_trials=5",
            "profile.n_jobs=2",
            "task.epochs=4",
            "task.epoch_seconds=0.7",
            "hydra/sweeper/pruner=none",
            "hydra.sweeper.max_failure_rate=0.5",
        ),
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sweep_dir = tmp_path / "sweeps" / "run"

    def every_running_trial_reported() -> bool:
        """Two trials run at once and the victim is one of their processes, whichever: wait
        until both have reported an epoch, so the killed one has something to keep."""
        try:
            study = optuna.load_study(study_name="tiny", storage=storage)
        except KeyError:
            return False
        running = [t for t in study.trials if t.state == TrialState.RUNNING]
        return (
            bool(running)
            and all(t.intermediate_values for t in running)
            and len(_alive_trial_pids(sweep_dir)) == len(running)
        )

    wait_for(every_running_trial_reported, timeout=120, process=sweep)
    victim = _alive_trial_pids(sweep_dir)[0]
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = sweep.communicate(timeout=240)
    assert sweep.returncode == 0, stdout[-2000:] + stderr[-3000:]
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    assert sorted(t.number for t in trials) == list(range(5))  # none lost, none duplicated
    assert all(t.state.is_finished() for t in trials)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1, (victim, [(t.number, t.state, t.user_attrs) for t in trials])
    assert failed[0].user_attrs["fail_reason"].startswith("process died")
    assert failed[0].intermediate_values  # what it reported before dying is kept
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4


def _sweep_with(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        train_command(
            "-m",
            "hydra/sweeper=optuna",
            "hydra/launcher=submitit_local",
            f"paths.output_dir={tmp_path / 'outputs'}",
            "profile.n_trials=1",
            *overrides,
        ),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "space",
    ["optimizer.lr=interval(1e-2,1e-5)", "model.hidden_dim=range(64,8)", "optimizer.lr=choice()"],
    ids=["low>high", "empty-range", "empty-choice"],
)
def test_bad_search_space_runs_no_trial(tmp_path, space):
    process = _sweep_with(tmp_path, space)
    assert_one_line_error(process, space.split("=", 1)[0])
    assert process.returncode == 2
    assert not (tmp_path / "outputs" / "sweeps").exists()  # no trial folder, no study
    assert not (tmp_path / "outputs" / "optuna_study.db").exists()


@pytest.mark.parametrize(
    "space",
    ["optimizer.lr=interval(1e-2,1e-5)", "model.hidden_dim=range(64,8)", "optimizer.lr=choice()"],
    ids=["low>high", "empty-range", "empty-choice"],
)
def test_bad_search_space_is_one_line(tmp_path, space):
    from tests.reliability.support import assert_one_line_error

    assert_one_line_error(_sweep_with(tmp_path, space), space.split("=")[0])


def test_unreachable_sweep_storage_is_one_line(tmp_path):
    from tests.reliability.support import assert_one_line_error

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    url = f"sqlite:///{blocker}/study.db"
    process = _sweep_with(
        tmp_path, "optimizer.lr=interval(1e-4,1e-3)", f"paths.study_storage={url}"
    )
    assert_one_line_error(process, str(blocker))
