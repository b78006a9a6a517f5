"""The note's thread recipe searches phase 1's space through Optuna's public suggest API."""

from __future__ import annotations

import optuna
import pytest

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


def test_the_replay_default_and_the_thread_peer_sample_as_make_phase1_does():
    """The replay's default policy and the thread peer read phase 1's TPE settings from its
    file; the sweeper gets them through Hydra. All three must build the same sampler."""
    from hydra.utils import instantiate

    from benchmarks.replay_policies import (
        DEFAULT_POLICY,
        POLICIES,
        SAMPLER_TARGETS,
        search_sampler_args,
    )
    from diffexp.config import compose_checked

    cfg = compose_checked(["hydra/sweeper=optuna", "search=phase1", "seed=7"], with_hydra=True)
    swept = instantiate(cfg.hydra.sweeper.sampler, _execution_whitelist_=SAMPLER_TARGETS)
    replayed = POLICIES[DEFAULT_POLICY].make_sampler(7)
    threads = optuna.samplers.TPESampler(seed=7, **search_sampler_args("phase1"))
    for sampler in (replayed, threads):
        assert sampler._n_startup_trials == swept._n_startup_trials == 2
        assert sampler._constant_liar is swept._constant_liar is True


def test_shipped_recipe_uses_optunas_default_tpe_and_shared_uses_phase1s():
    shipped = thread_peer.build_sampler("shipped", 3)
    shared = thread_peer.build_sampler("shared", 3)
    default = optuna.samplers.TPESampler()
    assert shipped._n_startup_trials == default._n_startup_trials == 10
    assert shipped._multivariate == default._multivariate
    assert (shared._n_startup_trials, shared._constant_liar, shared._multivariate) == (
        2,
        True,
        False,
    )
    with pytest.raises(ValueError, match="shipped"):
        thread_peer.build_sampler("tuned", 3)
