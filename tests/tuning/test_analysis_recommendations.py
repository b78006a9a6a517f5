"""Pruner and failure recommendations, read from the pruner config the sweeper stores."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from diffexp.names import FAIL_REASON_ATTR, PRUNER_ATTR
from diffexp.tuning.analysis.report import analyze
from tests.conftest import REPO

MEDIAN = {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 5, "n_warmup_steps": 3}
X = {"x": FloatDistribution(0.0, 1.0)}


def _study(tmp_path, states: list[TrialState], pruner: dict, reports: bool = True) -> str:
    storage = f"sqlite:///{tmp_path / 'rec.db'}"
    study = optuna.create_study(study_name="rec", storage=storage)
    study.set_user_attr(PRUNER_ATTR, pruner)
    trials = []
    for i, state in enumerate(states):
        x = 0.3 + 0.4 * i / len(states)
        trials.append(
            optuna.create_trial(
                state=state,
                value=x if state == TrialState.COMPLETE else None,
                params={"x": x} if state != TrialState.FAIL else {},
                distributions=X if state != TrialState.FAIL else {},
                intermediate_values={0: x + 1, 1: x + 0.5} if reports else {},
                user_attrs={FAIL_REASON_ATTR: "diverged"} if state == TrialState.FAIL else {},
            )
        )
    study.add_trials(trials)
    return storage


def _kinds(report: dict, kind: str) -> list[dict]:
    return [r for r in report["recommendations"] if r["kind"] == kind]


def test_too_many_pruned_asks_for_a_gentler_pruner(tmp_path):
    states = [TrialState.COMPLETE] * 2 + [TrialState.PRUNED] * 8
    storage = _study(tmp_path, states, MEDIAN)
    report = analyze("rec", storage, out_dir=tmp_path / "out", plots=False)
    (pruner,) = _kinds(report, "pruner")
    assert pruner["pruned_fraction"] == 0.8
    assert "hydra.sweeper.pruner.n_warmup_steps=6 (now 3)" in pruner["action"]
    assert "8 of 10" in pruner["reason"]
    # the gentler percentile pruner must be configured gentler than the median (the shipped
    # percentile.yaml keeps the best 25 %, stricter)
    assert (
        "hydra/sweeper/pruner=percentile hydra.sweeper.pruner.percentile=75.0" in (pruner["action"])
    )


def test_a_strict_percentile_pruner_is_told_to_keep_more(tmp_path):
    import yaml

    shipped = yaml.safe_load((REPO / "conf/hydra/sweeper/pruner/percentile.yaml").read_text())
    states = [TrialState.COMPLETE] * 2 + [TrialState.PRUNED] * 8
    storage = _study(tmp_path, states, shipped)
    report = analyze("rec", storage, out_dir=tmp_path / "out", plots=False)
    (pruner,) = _kinds(report, "pruner")
    assert "hydra.sweeper.pruner.percentile=75.0" in pruner["action"]
    assert "now 25 %" in pruner["action"]


def test_nothing_pruned_without_pruner_asks_for_one(tmp_path):
    states = [TrialState.COMPLETE] * 12
    storage = _study(tmp_path, states, {"_target_": "optuna.pruners.NopPruner"})
    report = analyze("rec", storage, out_dir=tmp_path / "out", plots=False)
    (pruner,) = _kinds(report, "pruner")
    assert pruner["pruned_fraction"] == 0.0
    assert "hydra/sweeper/pruner=median" in pruner["action"]


def test_nothing_pruned_with_median_asks_for_a_harsher_one(tmp_path):
    storage = _study(tmp_path, [TrialState.COMPLETE] * 12, MEDIAN)
    report = analyze("rec", storage, out_dir=tmp_path / "out", plots=False)
    (pruner,) = _kinds(report, "pruner")
    assert "hydra.sweeper.pruner.n_warmup_steps=1 (now 3)" in pruner["action"]


def test_a_balanced_pruner_gets_no_advice(tmp_path):
    states = [TrialState.COMPLETE] * 6 + [TrialState.PRUNED] * 4
    storage = _study(tmp_path, states, MEDIAN)
    report = analyze("rec", storage, out_dir=tmp_path / "out", plots=False)
    assert _kinds(report, "pruner") == []


def test_failures_are_counted_by_reason(tmp_path):
    states = [TrialState.COMPLETE] * 5 + [TrialState.FAIL] * 2
    storage = _study(tmp_path, states, MEDIAN)
    report = analyze("rec", storage, out_dir=tmp_path / "out", plots=False)
    (failures,) = _kinds(report, "failures")
    assert failures["fail_reasons"] == {"diverged": 2}
    assert "diverged (2)" in failures["reason"]
