"""The sweeper's budget and grace period, through whole sweeps run in this process (issue 26).

Hydra's own in-process sweep runner (`SweepTaskFunction`, with the basic launcher) drives the
registered `hydra/sweeper=diffexp_optuna` exactly as a multirun does, with a task that returns
at once, so each sweep takes about a second and needs no subprocess. What is checked is what
the sweeps leave in the study storage.
"""

from __future__ import annotations

import copy
import re
import threading
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest
from hydra.core.plugins import Plugins
from hydra.core.singleton import Singleton
from hydra.test_utils.test_utils import SweepTaskFunction
from optuna.trial import TrialState

from diffexp.runtime import THREADS_ENV
from diffexp.tuning.storage import create_storage

GRACE_S = 3  # the user's grace_period: a trial silent for longer is dead
SILENT_S = 8 * GRACE_S  # how long the dead trial has been silent: within ten grace periods
SWEEP_LIMIT_S = 120  # a sweep here ends in seconds; one still running after this never will


@pytest.fixture
def restored_hydra_state():
    """Hydra's singletons (the job's HydraConfig above all) as they were before the sweep, with
    the plugins already scanned, so their config nodes stay registered for later tests."""
    Plugins.instance()
    state = copy.deepcopy(Singleton.get_state())
    yield
    Singleton.set_state(state)


@pytest.fixture
def sweep(restored_hydra_state, tmp_path, monkeypatch):
    """sweep(storage, study, *overrides) -> the values the task returned, in launch order.

    The sweep runs in a thread so that a sweep that never ends (one waiting for a budget it
    cannot reach) fails the test instead of hanging it; SWEEP_LIMIT_S only bounds that wait."""
    monkeypatch.setenv(THREADS_ENV, "1")  # the sweeper exports its thread share; undone after

    def run(storage: str, study: str, *overrides: str) -> list[float]:
        seen: list[float] = []
        errors: list[BaseException] = []

        def task(cfg) -> float:
            seen.append(float(cfg.x))
            return float(cfg.x)

        runner = SweepTaskFunction()
        runner.calling_file = __file__
        runner.task_function = task
        runner.temp_dir = str(tmp_path / "sweep")  # removed when the sweep ends; not the storage
        runner.overrides = [
            "hydra/sweeper=diffexp_optuna",
            "hydra/launcher=basic",
            "hydra.job.chdir=false",
            f"hydra.sweeper.storage={storage}",
            f"hydra.sweeper.study_name={study}",
            "+x=interval(0.0, 1.0)",
            *overrides,
        ]

        def run_sweep() -> None:
            try:
                with runner:
                    pass
            except BaseException as error:  # re-raised in the test's thread
                errors.append(error)

        thread = threading.Thread(target=run_sweep, name="sweep", daemon=True)
        thread.start()
        thread.join(SWEEP_LIMIT_S)
        assert not thread.is_alive(), f"the sweep never ended; its task ran {len(seen)} times"
        if errors:
            raise errors[0]
        return seen

    return run


def _storage(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite" else str(tmp_path / "study.log")


def _trials(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=create_storage(storage)).trials


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_budget_runs_exactly_n_trials_and_a_rerun_only_the_rest(sweep, tmp_path, kind):
    """n_trials is the study's total: a fresh sweep runs n_trials trials, a re-run with a
    larger n_trials only the difference. A count one short launches a trial too many; one
    that stops a trial early leaves a sweep that waits for ever (the fixture's bound)."""
    storage = _storage(kind, tmp_path)
    first = sweep(storage, "budget", "hydra.sweeper.n_trials=3")
    assert len(first) == 3
    assert [t.state for t in _trials(storage, "budget")] == [TrialState.COMPLETE] * 3

    second = sweep(storage, "budget", "hydra.sweeper.n_trials=5")
    trials = _trials(storage, "budget")
    assert len(second) == 2
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    assert sorted(t.value for t in trials) == sorted(first + second)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_silent_trial_is_failed_by_the_grace_period_the_user_set(sweep, tmp_path, kind):
    """A RUNNING trial of the study that has been silent for 8 grace periods (its job died
    without a beat) is FAIL "heartbeat lost" for the user's grace_period, and the sweep then
    spends the rest of its budget. A sweeper that used another grace (ten times it, or its
    default of 120 s) would leave the trial running and report another period."""
    storage = _storage(kind, tmp_path)
    study = optuna.create_study(study_name="grace", storage=create_storage(storage))
    started = datetime.now() - timedelta(seconds=SILENT_S)
    study.add_trial(
        optuna.trial.FrozenTrial(
            number=0,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=started,
            datetime_complete=None,
            params={"+x": 0.5},
            distributions={"+x": optuna.distributions.FloatDistribution(0.0, 1.0)},
            user_attrs={},
            system_attrs={},
            intermediate_values={},
            trial_id=0,
        )
    )

    ran = sweep(
        storage,
        "grace",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.heartbeat_interval=1",
        f"hydra.sweeper.grace_period={GRACE_S}",
    )

    dead, new = _trials(storage, "grace")
    assert dead.state == TrialState.FAIL
    reason = dead.user_attrs["fail_reason"]
    assert reason.startswith("heartbeat lost"), reason
    assert re.search(rf"\b{GRACE_S} s\b", reason), reason  # the period the user set
    # judged dead when the sweeper opened the study, not later under a longer period
    assert dead.datetime_complete <= new.datetime_start
    assert len(ran) == 1 and new.state == TrialState.COMPLETE  # the FAIL counts in the budget
