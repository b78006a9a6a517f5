"""Issue 13: diffexp's sweeper as a drop-in for the official one, item by item.

Each item (and each deliberate difference from the official sweeper, listed in the table of
docs/dropin.md) has its own test here; the fast ones call the sweeper's parts, the slow ones run
the official example apps or a foreign app as a real `-m` multirun.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import optuna
import pytest
from dropin_helpers import EXAMPLES, FOREIGN_APP, OFFICIAL_TESTS_CONF, assert_ok, results, run_app
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from optuna.trial import TrialState

from diffexp.tuning.analysis.best_trial import PARETO_RULE, best_trial_overrides
from diffexp.tuning.storage import StudyError
from diffexp.tuning.sweeper.app import NullReporter, trial_reporter
from diffexp.tuning.sweeper.async_sweeper import objective_values
from hydra_plugins.diffexp_sweeper.sweeper import DiffexpOptunaSweeper

# ---- fast: the parts -----------------------------------------------------------------------


def test_constructor_takes_the_official_arguments_in_order():
    official = list(inspect.signature(OptunaSweeper.__init__).parameters)
    ours = list(inspect.signature(DiffexpOptunaSweeper.__init__).parameters)
    assert ours[: len(official)] == official


def test_objective_values_one_per_direction():
    assert objective_values(1, 1) == [1.0]
    assert objective_values((1, "2.5"), 2) == [1.0, 2.5]
    with pytest.raises(ValueError, match="float-castable"):
        objective_values([1, 2], 1)
    with pytest.raises(ValueError, match="2 values for 3 directions"):
        objective_values([1, 2], 3)
    with pytest.raises(ValueError, match="sequence of 2"):
        objective_values(1.0, 2)


def test_reporter_outside_a_sweep_does_nothing(monkeypatch):
    for name in ("DIFFEXP_STUDY_NAME", "DIFFEXP_STORAGE", "DIFFEXP_TRIAL_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    reporter = trial_reporter()
    assert isinstance(reporter, NullReporter)
    reporter.report(1, 0.5)


def _two_objective_study(url: str) -> None:
    study = optuna.create_study(study_name="mo", storage=url, directions=["minimize", "minimize"])
    for values, lr in (([0.2, 0.9], 1e-3), ([0.5, 0.1], 1e-4), ([0.6, 0.95], 1e-2)):
        trial = study.ask()
        trial.suggest_float("optimizer.lr", 1e-5, 1e-1, log=True)
        study.tell(trial, values)
        del lr


def test_best_of_a_two_objective_study_picks_by_the_documented_rule(sqlite_url):
    _two_objective_study(sqlite_url)
    _, first = best_trial_overrides("mo", sqlite_url)
    assert (first["trial_number"], first["objective"], first["rule"]) == (0, 0, PARETO_RULE)
    assert first["value"] == 0.2 and first["values"] == [0.2, 0.9]
    _, second = best_trial_overrides("mo", sqlite_url, objective=1)
    assert (second["trial_number"], second["value"]) == (1, 0.1)
    with pytest.raises(StudyError, match="best_of_objective=2"):
        best_trial_overrides("mo", sqlite_url, objective=2)


# ---- slow: real multiruns ------------------------------------------------------------------


def _study(sweep: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep / 'optuna_study.db'}")


@pytest.mark.slow
def test_multi_objective_storage_null_and_pruning_off_said_once(tmp_path):
    """Items 1-3: the official multi-objective app as it is (storage null, no tuning node)."""
    sweep = tmp_path / "sweep"
    process = run_app(
        EXAMPLES / "multi-objective.py",
        sweep,
        "hydra.sweeper.n_trials=4",
        "+hydra.sweeper.pruner._target_=optuna.pruners.MedianPruner",
    )
    assert_ok(process)
    output = process.stdout + process.stderr
    assert output.count("pruning is off") == 1
    assert output.count("has no `tuning` node") == 1
    assert "hydra.sweeper.storage is null: the study is kept in" in output
    study = _study(sweep, "multi-objective")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert all(len(t.values) == 2 for t in study.trials)
    assert len(results(sweep)["solutions"]) == len(study.best_trials)


@pytest.mark.slow
@pytest.mark.parametrize("report", [True, False])
def test_foreign_app_runs_and_prunes_with_one_line(report, tmp_path):
    """Item 3: an app with no `tuning` node runs; with `trial_reporter()` its bad trial is
    pruned; without it the sweeper says once that nothing was pruned."""
    sweep = tmp_path / "sweep"
    process = run_app(
        FOREIGN_APP,
        sweep,
        "hydra/sweeper/sampler=grid",
        "+hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
        "+hydra.sweeper.pruner.upper=2.0",  # x=5.0 reports 6.0 at step 1: pruned there
        f"report={str(report).lower()}",
    )
    assert_ok(process)
    study = _study(sweep, "foreign")
    states = {t.params["x"]: t.state for t in study.trials}
    assert len(states) == 3
    if report:
        assert states[5.0] == TrialState.PRUNED
    else:
        assert set(states.values()) == {TrialState.COMPLETE}
        assert (process.stdout + process.stderr).count("reported no intermediate value") == 1


@pytest.mark.slow
def test_grid_exhaustion_ends_cleanly_with_every_point_once(tmp_path):
    """Item 4: the official test's grid config (8 points) with n_trials 20, as it runs it."""
    sweep = tmp_path / "sweep"
    process = run_app(
        EXAMPLES / "sphere.py",
        sweep,
        f"--config-dir={OFFICIAL_TESTS_CONF}",
        "--config-name=test_grid",
        "hydra.sweeper.n_trials=20",
    )
    assert_ok(process)
    points = [tuple(sorted(t.params.items())) for t in _study(sweep, "sphere").trials]
    assert len(points) == len(set(points)) == 8  # x: 2, y: 2 (-1.0, 0.0; stop excluded), z: 2
    assert "the grid has 8 points" in process.stdout + process.stderr
    assert "Traceback" not in process.stderr


@pytest.mark.slow
def test_empty_search_space_runs_the_fixed_config(tmp_path):
    """Item 5: no params, no custom space: each trial runs the app's own values."""
    sweep = tmp_path / "sweep"
    process = run_app(
        EXAMPLES / "sphere.py", sweep, "hydra.sweeper.n_trials=2", "hydra.sweeper.params=null"
    )
    assert_ok(process)
    assert [t.value for t in _study(sweep, "sphere").trials] == [2.0, 2.0]  # x=1, y=1
    assert results(sweep)["best_value"] == 2.0


@pytest.mark.slow
@pytest.mark.parametrize("max_failure_rate", [0.5])
def test_failing_trials_exit_non_zero(max_failure_rate, tmp_path):
    """Item 6 and a README difference: a failure budget over the whole sweep."""
    process = run_app(
        EXAMPLES / "sphere.py",
        tmp_path / "sweep",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweeper.max_failure_rate={max_failure_rate}",
        "error=true",
    )
    assert process.returncode == 2
    assert "RuntimeError: cfg.error is True" in process.stderr
    expected = "every trial failed" if max_failure_rate == 1.0 else "max_failure_rate=0.5"
    assert expected in process.stderr


@pytest.mark.slow
def test_every_failure_tolerated_exits_0_loudly(tmp_path):
    """Issue 25 item 7: max_failure_rate=1.0 means what the official sweeper means, every
    failure tolerated: exit 0, a warning on stderr, the most common reason in the log."""
    process = run_app(
        EXAMPLES / "sphere.py",
        tmp_path / "sweep",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.max_failure_rate=1.0",
        "error=true",
    )
    assert process.returncode == 0, process.stderr[-2000:]
    warning = [line for line in process.stderr.splitlines() if "diffexp: warning:" in line]
    assert len(warning) == 1
    assert "failed (3 of 3)" in warning[0] and "max_failure_rate=1.0" in warning[0]
    assert "most common reason (3x): RuntimeError: cfg.error is True" in process.stdout
    assert [t.state.name for t in _study(tmp_path / "sweep", "sphere").trials] == ["FAIL"] * 3


@pytest.mark.slow
def test_a_rerun_resumes_the_study(tmp_path):
    """A difference in docs/dropin.md: n_trials counts the study's finished trials, so a rerun
    with the same storage and study continues it instead of running n_trials more."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for _ in range(2):
        assert_ok(
            run_app(
                EXAMPLES / "sphere.py",
                tmp_path / "sweep",
                "hydra.sweeper.n_trials=3",
                f"hydra.sweeper.storage={storage}",
            )
        )
    assert len(optuna.load_study(study_name="sphere", storage=storage).trials) == 3


def test_best_of_on_a_two_objective_study_names_the_rule(sqlite_url, capsys):
    """Phase 2 (`best_of=`) on a two-objective study: the Pareto trial best in objective
    `best_of_objective`, said on stderr, its params put before the user's overrides."""
    from diffexp.train import expand_best_of

    _two_objective_study(sqlite_url)
    args = expand_best_of(
        ["best_of=mo", "best_of_objective=1", f"paths.study_storage={sqlite_url}"]
    )
    assert args[1] == "best_of_trial=1" and args[0].startswith("optimizer.lr=")
    assert "Pareto front, best in objective 1: values [0.5, 0.1]" in capsys.readouterr().err
