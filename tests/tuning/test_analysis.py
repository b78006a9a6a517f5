"""The study analysis on small real Optuna studies built here (seconds, no training)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from diffexp.analyze import main
from diffexp.names import ANALYSIS_RESULTS_FILE as RESULTS_FILENAME
from diffexp.tuning.analysis.importance import MIN_COMPLETE_TRIALS
from diffexp.tuning.analysis.recommendations import find_edge
from diffexp.tuning.analysis.report import analyze
from diffexp.tuning.storage import StudyError

LR_LOW, LR_HIGH = 1e-5, 1e-2
N_TRIALS = 30
FAIL_EVERY = 9  # trials 8, 17, 26 raise: the study holds FAIL trials too

optuna.logging.set_verbosity(optuna.logging.WARNING)


def lr_objective(trial: optuna.Trial) -> float:
    """Minimal at the upper lr bound; hidden_dim matters a little, schedule not at all."""
    lr = trial.suggest_float("optimizer.lr", LR_LOW, LR_HIGH, log=True)
    hidden = trial.suggest_categorical("model.hidden_dim", [64, 128, 256])
    trial.suggest_categorical("schedule", ["constant", "cosine"])
    if trial.number % FAIL_EVERY == FAIL_EVERY - 1:
        raise RuntimeError("simulated divergence")
    final = (math.log10(LR_HIGH) - math.log10(lr)) ** 2 + 0.05 * (256 / hidden)
    for epoch in range(5):
        trial.report(final * (1.0 + 1.0 / (epoch + 1)), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return final


def make_study(storage: str, name: str, n_trials: int) -> optuna.Study:
    """Run the study in memory, then copy it into `storage`.

    The copy holds the same trials (states, params, intermediate values, times); running
    TPE directly against SQLite would cost seconds of database round trips per test run.
    """
    memory = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        study_name=name,
        storage=memory,
        sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=10),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )
    study.optimize(lr_objective, n_trials=n_trials, catch=(RuntimeError,))
    optuna.copy_study(from_study_name=name, from_storage=memory, to_storage=storage)
    return optuna.load_study(study_name=name, storage=storage)


@pytest.fixture(scope="module")
def lr_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, optuna.Study]:
    db = tmp_path_factory.mktemp("study") / "optuna_study.db"
    storage = f"sqlite:///{db}"
    return storage, make_study(storage, "phase1", N_TRIALS)


@pytest.fixture(scope="module")
def lr_report(lr_study, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    storage, _ = lr_study
    out = tmp_path_factory.mktemp("results")
    analyze("phase1", storage, out_dir=out)
    return json.loads((out / RESULTS_FILENAME).read_text()), out


def test_study_has_complete_pruned_and_failed_trials(lr_study):
    _, study = lr_study
    states = {t.state for t in study.trials}
    assert states == {
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    }


def test_json_has_documented_keys_and_every_trial(lr_study, lr_report):
    _, study = lr_study
    report, _ = lr_report
    for key in (
        "study_name", "storage", "directions", "counts", "top_k", "pareto_front",
        "importance", "recommendations", "trials", "plots", "plots_skipped",
    ):  # fmt: skip
        assert key in report
    assert report["study_name"] == "phase1"
    assert report["directions"] == ["minimize"]
    states = [t.state.name for t in study.trials]
    assert report["counts"]["COMPLETE"] == states.count("COMPLETE")
    assert report["counts"]["PRUNED"] == states.count("PRUNED")
    assert report["counts"]["FAIL"] == states.count("FAIL") == 3
    assert [r["number"] for r in report["trials"]] == list(range(N_TRIALS))
    for record, trial in zip(report["trials"], study.trials, strict=True):
        assert record["state"] == trial.state.name
        assert record["params"] == trial.params
        assert record["value"] == trial.value
        assert record["intermediate_values"] == {
            str(k): v for k, v in trial.intermediate_values.items()
        }
        assert record["duration_seconds"] >= 0
        assert "user_attrs" in record


def test_top_k_is_sorted_and_starts_with_the_best_trial(lr_study, lr_report):
    _, study = lr_study
    report, _ = lr_report
    top = report["top_k"]
    assert len(top) == 5
    assert [e["rank"] for e in top] == [1, 2, 3, 4, 5]
    assert top[0]["number"] == study.best_trial.number
    assert top[0]["params"] == study.best_trial.params
    values = [e["value"] for e in top]
    assert values == sorted(values)
    assert report["pareto_front"] is None


def test_importance_rests_on_the_complete_trials(lr_study, lr_report):
    _, study = lr_study
    report, _ = lr_report
    importance = report["importance"]
    n_complete = sum(t.state.name == "COMPLETE" for t in study.trials)
    assert importance["evaluator"] == "fanova"
    assert importance["n_trials"] == n_complete
    params = importance["by_target"][0]["params"]
    assert set(params) == {"optimizer.lr", "model.hidden_dim", "schedule"}
    assert max(params, key=params.get) == "optimizer.lr"
    assert sum(params.values()) == pytest.approx(1.0, abs=1e-6)


def test_plots_are_non_empty_pngs(lr_report):
    report, out = lr_report
    expected = {
        "optimization_history",
        "param_importances",
        "parallel_coordinate",
        "intermediate_values",
        "slice",
    }
    assert set(report["plots"]) == expected
    for name in expected:
        path = out / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 1000


def test_boundary_rule_widens_lr_upward(lr_study, lr_report):
    _, study = lr_study
    report, _ = lr_report
    assert study.best_params["optimizer.lr"] > LR_HIGH * (LR_LOW / LR_HIGH) ** 0.1
    widen = [r for r in report["recommendations"] if r["kind"] == "widen"]
    lr = [r for r in widen if r["param"] == "optimizer.lr"]
    assert len(lr) == 1
    assert lr[0]["direction"] == "up"
    assert lr[0]["current_range"] == [LR_LOW, LR_HIGH]
    assert lr[0]["new_range"] == [LR_LOW, 2 * LR_HIGH]
    assert lr[0]["override"] == "optimizer.lr=tag(log, interval(1e-05, 0.02))"
    assert lr[0]["reason"]


def test_unimportant_schedule_is_fixed_at_its_best_value(lr_study, lr_report):
    _, study = lr_study
    report, _ = lr_report
    fixes = {r["param"]: r for r in report["recommendations"] if r["kind"] == "fix"}
    assert "schedule" in fixes
    assert fixes["schedule"]["override"] == f"schedule={study.best_params['schedule']}"
    assert "optimizer.lr" not in fixes


def test_edge_rule_on_ranges_and_ordered_choices():
    log_float = optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)
    assert find_edge(1e-5, log_float).new_range == [5e-6, 1e-2]
    assert find_edge(3e-4, log_float) is None
    ints = optuna.distributions.IntDistribution(2, 8)
    assert find_edge(8, ints).new_range == [2, 11]
    choice = optuna.distributions.CategoricalDistribution([128, 256, 512])
    assert find_edge(512, choice).new_range == [128, 256, 512, 1024]
    assert find_edge(128, choice).new_range == [64, 128, 256, 512]
    assert find_edge(256, choice) is None
    assert (
        find_edge("cosine", optuna.distributions.CategoricalDistribution(["a", "cosine"])) is None
    )
    dropout = optuna.distributions.FloatDistribution(0.0, 0.5)
    assert find_edge(0.01, dropout) is None  # cannot widen a non-negative range below 0


def test_ped_anova_option(lr_study, tmp_path):
    storage, _ = lr_study
    report = analyze("phase1", storage, out_dir=tmp_path, importance="ped_anova", plots=False)
    importance = report["importance"]
    assert importance["evaluator"] == "ped_anova"
    params = importance["by_target"][0]["params"]
    assert max(params, key=params.get) == "optimizer.lr"
    assert importance["n_trials"] == report["counts"]["COMPLETE"]


def test_importance_refuses_with_too_few_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'few.db'}"
    study = optuna.create_study(study_name="few", storage=storage)
    study.optimize(lambda t: t.suggest_float("optimizer.lr", 1e-5, 1e-2, log=True)
                   + t.suggest_float("x", 0, 1), n_trials=MIN_COMPLETE_TRIALS - 3)  # fmt: skip
    report = analyze("few", storage, out_dir=tmp_path / "out")
    importance = report["importance"]
    assert importance["by_target"] is None
    assert str(MIN_COMPLETE_TRIALS - 3) in importance["reason"]
    assert any(r["kind"] == "too_few_trials" for r in report["recommendations"])
    assert "param_importances" in report["plots_skipped"]
    assert not (tmp_path / "out" / "param_importances.png").exists()


def test_multi_objective_gives_a_pareto_front(tmp_path):
    storage = f"sqlite:///{tmp_path / 'mo.db'}"
    study = optuna.create_study(
        study_name="mo",
        storage=storage,
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 2)
        y = trial.suggest_float("y", 0, 1)
        return x**2 + y, (x - 2) ** 2 + y

    study.optimize(objective, n_trials=12)
    report = analyze("mo", storage, out_dir=tmp_path / "out")
    assert report["top_k"] is None
    front = {e["number"] for e in report["pareto_front"]}
    assert front == {t.number for t in study.best_trials}
    assert "pareto_front" in report["plots"]
    assert (tmp_path / "out" / "pareto_front.png").stat().st_size > 1000
    assert "optimization_history" in report["plots_skipped"]
    assert len(report["importance"]["by_target"]) == 2


def test_running_study_is_analyzed(tmp_path):
    storage = f"sqlite:///{tmp_path / 'run.db'}"
    study = optuna.create_study(study_name="live", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    running = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    report = analyze("live", storage, out_dir=tmp_path / "out", plots=False)
    assert report["counts"]["RUNNING"] == 1
    record = report["trials"][running.number]
    assert record["state"] == "RUNNING" and record["value"] is None


def test_cli_prints_the_sections_and_writes_the_json(lr_study, tmp_path):
    storage, study = lr_study
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "diffexp.analyze",
            "--storage",
            storage,
            "--out",
            str(tmp_path),
            "--no-plots",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
    )
    assert "TOP-5 CONFIGURATIONS:" in result.stdout
    assert f"Rank 1: Trial #{study.best_trial.number}" in result.stdout
    assert "HYPERPARAMETER IMPORTANCE (fanova," in result.stdout
    assert "RECOMMENDATIONS:" in result.stdout
    assert "widen optimizer.lr upward" in result.stdout
    report = json.loads((tmp_path / RESULTS_FILENAME).read_text())
    assert report["study_name"] == "phase1"  # the only study is the default


def _error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert "\n" not in err
    return err


def test_unknown_study_lists_existing_ones(lr_study, tmp_path, capsys):
    storage, _ = lr_study
    err = _error_line(capsys, ["--study", "nope", "--storage", storage, "--out", str(tmp_path)])
    assert "'nope'" in err and "phase1" in err
    assert not (tmp_path / RESULTS_FILENAME).exists()


def test_unknown_storage_path_is_not_created(tmp_path, capsys):
    missing = tmp_path / "missing.db"
    err = _error_line(capsys, ["--storage", f"sqlite:///{missing}", "--out", str(tmp_path)])
    assert str(missing) in err
    assert not missing.exists()
    err = _error_line(capsys, ["--storage", str(tmp_path / "journal.log")])
    assert "journal.log" in err


def test_study_without_finished_trial(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'empty.db'}"
    study = optuna.create_study(study_name="empty", storage=storage)
    study.optimize(lambda t: 1 / 0, n_trials=1, catch=(ZeroDivisionError,))
    err = _error_line(capsys, ["--study", "empty", "--storage", storage, "--out", str(tmp_path)])
    assert "'empty'" in err and "no complete trial" in err and "1 fail" in err
    with pytest.raises(StudyError):
        analyze("empty", storage, out_dir=tmp_path)


def test_default_study_is_the_most_recent(tmp_path):
    storage = f"sqlite:///{tmp_path / 'two.db'}"
    for name in ("phase1", "phase1b"):
        study = optuna.create_study(study_name=name, storage=storage)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    optuna.create_study(study_name="not_started", storage=storage)
    report = analyze(None, storage, out_dir=tmp_path / "out", plots=False)
    assert report["study_name"] == "phase1b"
    assert report["studies_in_storage"] == ["phase1", "phase1b", "not_started"]
