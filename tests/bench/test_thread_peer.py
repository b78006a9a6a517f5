"""The note's thread recipe searches phase 1's space through Optuna's public suggest API."""

from __future__ import annotations

import optuna

from benchmarks import thread_peer


def test_phase1_space_is_searched_with_its_own_distributions():
    distributions, fixed = thread_peer.search_space(["profile=smoke"])
    assert set(distributions) == {"optimizer.lr", "model.hidden_dim", "model.t_emb_dim"}
    assert fixed == {}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    values = {name: thread_peer.suggest(trial, name, d) for name, d in distributions.items()}
    assert 1e-5 <= values["optimizer.lr"] <= 1e-2
    assert values["model.hidden_dim"] in (32, 64, 96)
    assert trial.distributions == distributions
