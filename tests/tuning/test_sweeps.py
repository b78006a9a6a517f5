"""Real `-m` multiruns of the tiny app through diffexp's sweeper and submitit_local.

Every assertion reads the study storage or the files the sweep wrote, never a wall clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from diffexp.tuning.storage import create_storage

pytestmark = pytest.mark.slow

FAST_PRUNING = ("hydra.sweeper.pruner.n_startup_trials=2", "hydra.sweeper.pruner.n_warmup_steps=1")


def _trials(storage: str, name: str = "tiny") -> dict[int, optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=create_storage(storage))
    return {t.number: t for t in study.trials}


def _sweep_dir(tmp_path: Path) -> Path:
    (sweep,) = (tmp_path / "sweeps").iterdir()
    return sweep


def _ok(process: subprocess.CompletedProcess) -> None:
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]


def test_sweep_completes_prunes_and_writes_records(run_tiny_sweep, sqlite_url, tmp_path):
    process = run_tiny_sweep(
        sqlite_url, "profile.n_trials=6", *FAST_PRUNING, "task.epochs=5", "task.bad_trials=[4,5]"
    )
    _ok(process)
    trials = _trials(sqlite_url)
    states = [t.state for t in trials.values()]
    assert len(trials) == 6
    assert [trials[n].state for n in (4, 5)] == [TrialState.PRUNED] * 2
    assert TrialState.COMPLETE in states
    assert all(t.state.is_finished() for t in trials.values())
    assert all(set(t.params) == {"task.x"} for t in trials.values())  # tuning.* not params
    sweep = _sweep_dir(tmp_path)
    for number, trial in trials.items():
        record = json.loads((sweep / f"trial_{number}" / "trial.json").read_text())
        assert record["state"] == trial.state.name and record["trial_number"] == number
        assert f"tuning.trial_number={number}" in record["hyperparameters"]
        assert (sweep / f"trial_{number}" / "threads.txt").read_text() == str(
            max(1, len(os.sched_getaffinity(0)) // 2)
        )
        if trial.state == TrialState.PRUNED:
            assert record["pruned_at_epoch"] == max(trial.intermediate_values)
    summary = (sweep / "sweep_summary.yaml").read_text()
    counts = {s: states.count(s) for s in (TrialState.COMPLETE, TrialState.PRUNED)}
    assert f"complete: {counts[TrialState.COMPLETE]}" in summary
    assert f"pruned: {counts[TrialState.PRUNED]}" in summary
    results = (sweep / "optimization_results.yaml").read_text()
    best = min(t.value for t in trials.values() if t.state == TrialState.COMPLETE)
    assert f"best_value: {best}" in results
    assert "this sweep:" in process.stdout


def test_free_slot_starts_next_trial_without_batch_barrier(run_tiny_sweep, sqlite_url):
    # Trial 0 is long; with 2 slots trials 2 and 3 must start while trial 0 still runs.
    process = run_tiny_sweep(
        sqlite_url,
        "profile.n_trials=4",
        "profile.n_jobs=2",
        "task.long_trials=[0]",
        "task.long_epoch_seconds=2.0",
        "hydra/sweeper/pruner=none",
    )
    _ok(process)
    trials = _trials(sqlite_url)
    assert {t.state for t in trials.values()} == {TrialState.COMPLETE}
    long_end = trials[0].datetime_complete
    assert trials[2].datetime_start < long_end
    assert trials[3].datetime_start < long_end


def test_nan_crash_and_dead_process_fail_while_sweep_completes(run_tiny_sweep, sqlite_url):
    process = run_tiny_sweep(
        sqlite_url,
        "profile.n_trials=6",
        "hydra.sweeper.max_failure_rate=0.5",
        "task.nan_trials=[1]",
        "task.crash_trials=[2]",
        "task.die_trials=[3]",
        "hydra/sweeper/pruner=none",
    )
    _ok(process)
    trials = _trials(sqlite_url)
    assert len(trials) == 6
    assert trials[1].state == TrialState.FAIL
    assert trials[1].user_attrs["fail_reason"].startswith("diverged:")
    assert trials[2].state == TrialState.FAIL
    assert trials[2].user_attrs["fail_reason"] == "RuntimeError: simulated crash in the trainer"
    assert trials[3].state == TrialState.FAIL
    assert trials[3].user_attrs["fail_reason"].startswith("process died")
    assert {trials[n].state for n in (0, 4, 5)} == {TrialState.COMPLETE}


def test_too_many_failures_stop_the_sweep(run_tiny_sweep, sqlite_url):
    process = run_tiny_sweep(
        sqlite_url,
        "profile.n_trials=6",
        "profile.n_jobs=1",
        "hydra.sweeper.max_failure_rate=0.0",
        "task.crash_trials=[0,1,2]",
    )
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    (line,) = [x for x in process.stderr.splitlines() if x.startswith("diffexp: error:")]
    assert "sweep stopped: 1 of 1 trials failed" in line
    assert "max_failure_rate=0.0" in line
    assert "(1x): RuntimeError: simulated crash in the trainer" in line
    trials = _trials(sqlite_url)
    assert len(trials) == 1 and trials[0].state == TrialState.FAIL


def test_killed_sweep_resumes_to_exactly_n_trials(tmp_path, sqlite_url):
    from sweep_helpers import tiny_sweep_command

    from tests.conftest import subprocess_env

    args = tiny_sweep_command(
        sqlite_url,
        "profile.n_trials=6",
        "profile.n_jobs=2",
        "task.epoch_seconds=0.5",
        "hydra/sweeper/pruner=none",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=4",
    )
    sweeper = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=subprocess_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                trials = _trials(sqlite_url)
            except KeyError:  # study not created yet
                continue
            finished = [t for t in trials.values() if t.state.is_finished()]
            running = [t for t in trials.values() if t.state == TrialState.RUNNING]
            if len(finished) >= 2 and running:
                break
        os.killpg(sweeper.pid, signal.SIGKILL)  # the sweeper and its trial processes
    finally:
        sweeper.wait()
    before = _trials(sqlite_url)
    stale = [n for n, t in before.items() if t.state == TrialState.RUNNING]
    assert stale, "the kill should leave a trial RUNNING"

    process = subprocess.run(
        args, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=240
    )
    _ok(process)
    after = _trials(sqlite_url)
    assert sum(t.state.is_finished() for t in after.values()) == 6
    assert len(after) == 6
    for number in stale:
        assert after[number].state == TrialState.FAIL
        assert after[number].user_attrs["fail_reason"].startswith("heartbeat lost")
    for number, trial in before.items():  # finished trials were not redone
        if trial.state.is_finished():
            assert after[number].state == trial.state and after[number].value == trial.value


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_eight_parallel_trials_share_storage_without_lock_errors(run_tiny_sweep, tmp_path, kind):
    """Issue 7, item 6: a 50-trial study, 8 trials in flight, each reporting every epoch."""
    storage = (
        f"sqlite:///{tmp_path / 'busy.db'}" if kind == "sqlite" else str(tmp_path / "busy.log")
    )
    process = run_tiny_sweep(
        storage,
        "profile.n_trials=50",
        "profile.n_jobs=8",
        "hydra.sweeper.cap_n_jobs_to_cores=false",
        "task.epochs=30",
        "task.epoch_seconds=0.01",
        "hydra/sweeper/pruner=none",
        timeout=400,
        launcher="pool",  # warm workers: 8 trials really are in flight at once on 2 cores
    )
    _ok(process)
    trials = _trials(storage)
    assert len(trials) == 50
    assert {t.state for t in trials.values()} == {TrialState.COMPLETE}
    assert all(len(t.intermediate_values) == 30 for t in trials.values())
    logs = (
        process.stdout
        + process.stderr
        + "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.err"))
    )
    assert "database is locked" not in logs
    assert _most_in_flight(trials.values()) == 8, "the 8 slots never ran at once"


def _most_in_flight(trials) -> int:
    """The most trials running at one moment (from their start and completion times)."""
    events = sorted(
        [(t.datetime_start, 1) for t in trials] + [(t.datetime_complete, -1) for t in trials],
        key=lambda event: (event[0], event[1]),  # an end before a start at the same instant
    )
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most
