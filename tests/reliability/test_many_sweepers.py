"""Many sweepers on one study, and a sweeper killed while its jobs run (issue 16, items 1-3,
7, 8): N processes on this machine stand in for N submit nodes.

Each trial of the tiny app trains longer than the grace period, so a sweeper that took
"RUNNING" for "dead" would fail live trials here, and two sweepers that counted the study
without a shared lock would overshoot n_trials.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import subprocess_env
from tests.reliability.support import wait_for
from tests.tuning.sweep_helpers import tiny_sweep_command

pytestmark = pytest.mark.slow

FAST_LIVENESS = ("hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=4")
LONG_TRIALS = ("task.epochs=6", "task.epoch_seconds=1.0")  # 6 s a trial > grace 4 s


def _storage(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if kind == "journal":
        return str(tmp_path / "study.log")
    return request.getfixturevalue("postgres_url").url


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="tiny", storage=_open(storage)).trials


def _open(storage: str):
    from diffexp.tuning.storage import create_storage

    return create_storage(storage)


def _start(storage: str, cwd: Path, *overrides: str, launcher: str = "submitit_local"):
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        tiny_sweep_command(storage, *overrides, launcher=launcher),
        cwd=cwd,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _finish(process: subprocess.Popen, timeout: float = 240) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


@pytest.mark.parametrize(
    ("kind", "sweepers"),
    [
        ("sqlite", 2),
        ("sqlite", 3),
        ("journal", 2),
        ("journal", 3),
        ("postgresql", 2),
        ("postgresql", 3),
    ],
)
def test_n_sweepers_on_one_study_reach_exactly_n_trials(kind, sweepers, tmp_path, request):
    storage = _storage(kind, tmp_path, request)
    n_trials = 6
    processes = [
        _start(
            storage,
            tmp_path / f"node{i}",
            f"profile.n_trials={n_trials}",
            "profile.n_jobs=2",
            "hydra/sweeper/pruner=none",
            *FAST_LIVENESS,
            *LONG_TRIALS,
        )
        for i in range(sweepers)
    ]
    outputs = [_finish(process) for process in processes]

    trials = _trials(storage)
    assert len(trials) == n_trials, [(t.number, t.state.name) for t in trials]
    assert {t.state for t in trials} == {TrialState.COMPLETE}, [
        (t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in trials
    ]
    xs = [t.params["task.x"] for t in trials]
    assert len(set(xs)) == n_trials  # no configuration drawn twice
    seeds = {t.user_attrs["sampler_seed"] for t in trials}
    assert len(seeds) >= 2  # the trials came from several sweepers' own seed streams
    logged = [line for out in outputs for line in out.splitlines() if "sampler seed stream" in line]
    assert len(logged) == sweepers


def test_n_sweepers_never_draw_a_grid_point_twice(tmp_path, request):
    storage = _storage("sqlite", tmp_path, request)
    grid = (
        "hydra/sweeper/sampler=grid",
        "task.x=choice(0.1,0.2,0.3,0.4,0.5)",
        "profile.n_trials=5",
        "profile.n_jobs=2",
        "hydra/sweeper/pruner=none",
        "task.epochs=3",
        "task.epoch_seconds=0.3",
        *FAST_LIVENESS,
    )
    processes = [_start(storage, tmp_path / f"node{i}", *grid) for i in range(3)]
    for process in processes:
        _finish(process)
    trials = _trials(storage)
    assert sorted(t.params["task.x"] for t in trials) == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert {t.state for t in trials} == {TrialState.COMPLETE}


def test_restarted_sweeper_waits_for_its_live_jobs(tmp_path):
    """SIGKILL of the sweeper alone: its submitit_local jobs train on, report and complete;
    the restarted sweeper fails none of them and ends with exactly n_trials."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    overrides = (
        "profile.n_trials=5",
        "profile.n_jobs=2",
        "hydra/sweeper/pruner=none",
        *FAST_LIVENESS,
        "task.epochs=8",
        "task.epoch_seconds=1.0",
    )
    first = _start(storage, tmp_path / "a", *overrides)

    wait_for(lambda: _training(storage) == 2, timeout=120, process=first)
    live = [t.number for t in _trials(storage) if t.state == TrialState.RUNNING]
    os.kill(first.pid, signal.SIGKILL)  # the sweeper only: its job processes live on
    first.communicate()

    second = _start(storage, tmp_path / "b", *overrides)
    output = _finish(second)
    trials = {t.number: t for t in _trials(storage)}
    assert len(trials) == 5
    for number in live:
        assert trials[number].state == TrialState.COMPLETE, trials[number].user_attrs
    assert {t.state for t in trials.values()} == {TrialState.COMPLETE}
    assert "heartbeat lost" not in output


def _training(storage: str) -> int:
    """Trials whose job runs and has reported an epoch (not only asked by a sweeper)."""
    try:
        trials = _trials(storage)
    except KeyError:  # no study yet
        return 0
    return sum(t.state == TrialState.RUNNING and bool(t.intermediate_values) for t in trials)


def _children(pid: int) -> set[int]:
    """Every descendant of `pid` (from /proc: no psutil needed)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_pool_workers_exit_with_a_killed_sweeper_and_their_trials_fail_by_heartbeat(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    overrides = (
        "profile.n_trials=4",
        "profile.n_jobs=2",
        "hydra/sweeper/pruner=none",
        *FAST_LIVENESS,
        "task.epochs=30",
        "task.epoch_seconds=1.0",
    )
    sweeper = _start(storage, tmp_path / "a", *overrides, launcher="pool")

    wait_for(lambda: _training(storage) == 2, timeout=120, process=sweeper)
    workers = _children(sweeper.pid)
    assert len(workers) >= 2  # two pool workers (and multiprocessing's resource tracker)
    os.kill(sweeper.pid, signal.SIGKILL)
    sweeper.communicate()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.5)
    assert not [pid for pid in workers if _alive(pid)], "orphaned pool processes"

    orphaned = [t.number for t in _trials(storage) if t.state == TrialState.RUNNING]
    assert len(orphaned) == 2
    restart = ("task.epochs=3", "task.epoch_seconds=0.05")
    _finish(_start(storage, tmp_path / "b", *overrides, *restart, launcher="pool"))
    trials = {t.number: t for t in _trials(storage)}
    assert len(trials) == 4
    for number in orphaned:
        assert trials[number].state == TrialState.FAIL
        assert trials[number].user_attrs["fail_reason"].startswith("heartbeat lost")
        record = tmp_path / "a" / "sweeps" / "run" / f"trial_{number}" / "trial.json"
        assert '"state": "FAIL"' in record.read_text()  # written for the job that could not
    assert sum(t.state == TrialState.COMPLETE for t in trials.values()) == 2
