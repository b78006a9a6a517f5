"""The agreement of the two tuning objectives over a sweep's trials."""

from __future__ import annotations

import pytest

from benchmarks.objective_agreement import agreement


def _rows(losses, aucs, states=None):
    states = states or ["COMPLETE"] * len(losses)
    return [
        {"trial": i, "state": s, "best_val_loss": loss, "sample_auc": auc}
        for i, (loss, auc, s) in enumerate(zip(losses, aucs, states, strict=True))
    ]


def test_same_order_agrees_fully_and_picks_the_same_trial():
    summary = agreement(_rows([0.3, 0.2, 0.4, 0.1], [0.8, 0.7, 0.9, 0.6]))
    assert summary["spearman"] == pytest.approx(1.0)
    assert summary["best_by_val_loss"]["trial"] == summary["best_by_sample_auc"]["trial"] == 3


def test_reversed_order_disagrees_and_pruned_trials_do_not_count():
    rows = _rows([0.1, 0.2, 0.3, 0.05], [0.9, 0.8, 0.7, 0.5], ["COMPLETE"] * 3 + ["PRUNED"])
    summary = agreement(rows)
    assert summary["n_complete"] == 3
    assert summary["spearman"] == pytest.approx(-1.0)
    assert summary["best_by_val_loss"]["trial"] == 0
    assert summary["best_by_sample_auc"]["trial"] == 2


def test_too_few_trials_give_no_correlation():
    assert agreement(_rows([0.1, 0.2], [0.6, 0.7]))["spearman"] is None
