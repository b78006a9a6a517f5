"""The search files pick their sampler through a `hydra/sweeper/sampler` option, so a sampler
chosen on the command line replaces it whole (no TPE key is left for another sampler)."""

from __future__ import annotations

import pytest

from diffexp.config import compose_checked


def _sampler(*overrides: str) -> dict:
    cfg = compose_checked(["hydra/sweeper=optuna", "seed=11", *overrides], with_hydra=True)
    return dict(cfg.hydra.sweeper.sampler)


def test_phase1_and_phase1b_run_tpe_with_the_constant_liar():
    phase1, phase1b = _sampler("search=phase1"), _sampler("search=phase1b")
    assert phase1["_target_"] == phase1b["_target_"] == "optuna.samplers.TPESampler"
    assert phase1["constant_liar"] is phase1b["constant_liar"] is True
    assert (phase1["n_startup_trials"], phase1b["n_startup_trials"]) == (2, 10)
    assert phase1["seed"] == 11


@pytest.mark.parametrize(
    "option,target",
    [
        ("random", "optuna.samplers.RandomSampler"),
        ("qmc", "optuna.samplers.QMCSampler"),
        ("gp", "optuna.samplers.GPSampler"),
    ],
)
def test_another_sampler_replaces_phase_1s_whole_and_keeps_its_seed(option, target):
    sampler = _sampler("search=phase1", f"hydra/sweeper/sampler={option}")
    assert sampler["_target_"] == target
    assert "constant_liar" not in sampler
    assert sampler["seed"] == 11
