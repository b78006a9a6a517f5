"""`hydra/launcher=pool`: warm worker processes behind diffexp's sweeper.

Real `-m` multiruns of the tiny app (tests/tuning/tiny_app) with the pool launcher. Each
assertion reads the study storage, the files the sweep wrote, or /proc; never a wall clock.
Which worker ran a trial is read from the line the worker logs into the trial's own log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from sweep_helpers import tiny_sweep_command

from diffexp.tuning.storage import create_storage
from tests.conftest import subprocess_env

FAST_PRUNING = ("hydra.sweeper.pruner.n_startup_trials=2", "hydra.sweeper.pruner.n_warmup_steps=1")
WORKER_LINE = re.compile(r"pool worker pid (\d+) runs job #(\d+), its job (\d+)")


def _run_pool_sweep(tmp_path: Path, storage: str, *overrides: str) -> subprocess.CompletedProcess:
    command = [
        "hydra/launcher=pool" if arg == "hydra/launcher=submitit_local" else arg
        for arg in tiny_sweep_command(storage, *overrides)
    ]
    assert "hydra/launcher=pool" in command
    process = subprocess.run(
        command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=240
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return process


def _trials(storage: str) -> dict[int, optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="tiny", storage=create_storage(storage))
    return {t.number: t for t in study.trials}


def _worker_pids(sweep: Path) -> dict[int, int]:
    """Trial number -> pid of the worker that ran it, from each trial's app.log."""
    pids = {}
    for log_file in sweep.glob("trial_*/app.log"):
        (match,) = WORKER_LINE.findall(log_file.read_text())
        pids[int(match[1])] = int(match[0])
    return pids


def _alive_workers(pids) -> list[int]:
    """The pids that still run a multiprocessing worker (a reused pid would not match)."""
    alive = []
    for pid in set(pids):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing" in cmdline:
            alive.append(pid)
    return alive


@pytest.mark.slow
def test_pool_sweep_reuses_workers_prunes_and_leaves_no_worker(tmp_path, sqlite_url):
    process = _run_pool_sweep(
        tmp_path,
        sqlite_url,
        "profile.n_trials=6",
        "profile.n_jobs=2",
        *FAST_PRUNING,
        "task.epochs=5",
        "task.bad_trials=[4,5]",
    )
    trials = _trials(sqlite_url)
    assert len(trials) == 6
    assert [trials[n].state for n in (4, 5)] == [TrialState.PRUNED] * 2
    states = [t.state for t in trials.values()]
    assert TrialState.COMPLETE in states and all(s.is_finished() for s in states)
    sweep = tmp_path / "sweeps" / "run"
    for number, trial in trials.items():
        folder = sweep / f"trial_{number}"
        record = json.loads((folder / "trial.json").read_text())
        assert record["state"] == trial.state.name and record["trial_number"] == number
        assert f"tuning.trial_number={number}" in record["hyperparameters"]
        overrides = (folder / ".hydra" / "overrides.yaml").read_text()
        assert f"tuning.trial_number={number}" in overrides
        assert "hydra/launcher=pool" in (folder / ".hydra" / "hydra.yaml").read_text()
        assert (folder / "threads.txt").read_text() == str(
            max(1, len(os.sched_getaffinity(0)) // 2)
        )
    pids = _worker_pids(sweep)
    assert sorted(pids) == list(range(6))
    assert len(set(pids.values())) <= 2 < len(pids)  # two slots, six trials: workers reused
    assert os.getpid() not in pids.values()
    for number, pid in pids.items():  # each trial's stdout in its own file, not the terminal's
        output = (sweep / ".pool" / f"{number}_log.out").read_text()
        assert f"pool worker pid {pid} runs job #{number}" in output
    assert "pool worker pid" not in process.stdout + process.stderr
    complete, pruned = states.count(TrialState.COMPLETE), states.count(TrialState.PRUNED)
    assert f"complete: {complete}" in (sweep / "sweep_summary.yaml").read_text()
    assert f"this sweep: {complete} completed, {pruned} pruned, 0 failed" in process.stdout
    assert _alive_workers(pids.values()) == []


@pytest.mark.slow
def test_killed_worker_fails_only_its_trial(tmp_path, sqlite_url):
    # Trial 1 runs long in one slot while trial 2 SIGKILLs its worker in the other.
    _run_pool_sweep(
        tmp_path,
        sqlite_url,
        "profile.n_trials=6",
        "profile.n_jobs=2",
        "hydra.sweeper.max_failure_rate=0.5",
        "hydra/sweeper/pruner=none",
        "task.long_trials=[1]",
        "task.long_epoch_seconds=0.75",
        "task.die_trials=[2]",
    )
    trials = _trials(sqlite_url)
    assert len(trials) == 6
    reason = trials[2].user_attrs["fail_reason"]
    assert trials[2].state == TrialState.FAIL
    assert reason.startswith("process died: UncompletedJobError: pool worker")
    assert "killed by SIGKILL" in reason
    assert reason.endswith(f"its output: {tmp_path / 'sweeps' / 'run' / '.pool' / '2_log.err'}")
    assert {trials[n].state for n in (0, 1, 3, 4, 5)} == {TrialState.COMPLETE}
    # the long trial was in flight when its neighbour's worker died, and completed
    assert trials[1].datetime_start < trials[2].datetime_complete < trials[1].datetime_complete
    pids = _worker_pids(tmp_path / "sweeps" / "run")
    dead = pids[2]
    assert dead not in [pid for number, pid in pids.items() if number > 2]  # slot got a new one
    assert _alive_workers(pids.values()) == []


@pytest.mark.slow
def test_time_limit_kills_the_trial_and_recycling_replaces_workers(tmp_path, sqlite_url):
    _run_pool_sweep(
        tmp_path,
        sqlite_url,
        "profile.n_trials=4",
        "profile.n_jobs=2",
        "hydra.sweeper.max_failure_rate=0.5",
        "hydra/sweeper/pruner=none",
        "hydra.launcher.max_tasks_per_worker=1",
        # 9 s, worker start-up included (a fresh worker per trial): room for a loaded machine;
        # trial 0 needs 4 x 5 s
        "hydra.launcher.timeout_min=0.15",
        "task.long_trials=[0]",
        "task.long_epoch_seconds=5.0",
    )
    trials = _trials(sqlite_url)
    assert trials[0].state == TrialState.FAIL
    assert "ran past its time limit of 0.15 min" in trials[0].user_attrs["fail_reason"]
    assert {trials[n].state for n in (1, 2, 3)} == {TrialState.COMPLETE}
    pids = _worker_pids(tmp_path / "sweeps" / "run")
    assert len(set(pids.values())) == len(pids) == 4  # one trial per worker
    assert _alive_workers(pids.values()) == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("start_method", "fork", "hydra.launcher.start_method=fork is not one of spawn"),
        ("max_tasks_per_worker", 0, "hydra.launcher.max_tasks_per_worker=0 must be a positive"),
        ("max_workers", -1, "hydra.launcher.max_workers=-1 must be a positive"),
        ("timeout_min", 0, "hydra.launcher.timeout_min=0 must be > 0"),
    ],
)
def test_bad_launcher_config_is_one_line_and_exit_2(key, value, expected, capsys):
    from hydra_plugins.diffexp_pool_launcher.launcher import PoolLauncher

    with pytest.raises(SystemExit) as exit_info:
        PoolLauncher(**{key: value})
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("diffexp: error:") and expected in line


def test_reset_between_jobs_clears_the_dtype_policy():
    import keras

    from hydra_plugins.diffexp_pool_launcher.job_runner import reset_between_jobs

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.layers.Dense(2)  # something for clear_session to drop
    reset_between_jobs()
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.slow
def test_tuning_benchmark_runs_all_three_sweeps_on_the_pool(tmp_path, monkeypatch):
    import sys

    from sweep_helpers import TINY_APP

    from benchmarks.tuning_bench import MODES, compare_sweeps
    from tests.conftest import REPO

    monkeypatch.setattr("os.environ", subprocess_env())
    monkeypatch.chdir(tmp_path)
    command = [sys.executable, str(TINY_APP), f"hydra.searchpath=[file://{REPO / 'conf'}]"]
    figures = compare_sweeps(
        tmp_path / "bench", n_trials=4, n_jobs=2, command=command, launcher="pool"
    )
    assert figures["launchers"] == {"sequential": "pool", "batched": "pool", "diffexp": "pool"}
    for mode in MODES:
        assert figures[mode]["complete"] + figures[mode]["pruned"] == 4
        pids = _worker_pids(tmp_path / "bench" / f"{mode}_sweep")
        assert sorted(pids) == [0, 1, 2, 3]  # every trial ran in a pool worker
        assert len(set(pids.values())) < 4
        assert _alive_workers(pids.values()) == []
