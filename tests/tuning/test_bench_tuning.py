"""The tuning benchmark runs at tiny size and returns consistent figures (never timings)."""

from __future__ import annotations

import sys

import pytest

from benchmarks.tuning_bench import MODES, compare_sweeps


@pytest.mark.slow
def test_compare_sweeps_on_the_tiny_app(tmp_path, monkeypatch):
    from sweep_helpers import TINY_APP

    from tests.conftest import REPO, subprocess_env

    monkeypatch.setattr("os.environ", subprocess_env())
    monkeypatch.chdir(tmp_path)
    command = [sys.executable, str(TINY_APP), f"hydra.searchpath=[file://{REPO / 'conf'}]"]
    figures = compare_sweeps(
        tmp_path / "bench",
        n_trials=4,
        n_jobs=2,
        command=command,
        extra_overrides=("task.bad_trials=[3]",),
        pruner_overrides=(
            "hydra.sweeper.pruner.n_startup_trials=2",
            "hydra.sweeper.pruner.n_warmup_steps=1",
        ),
    )
    for mode in MODES:
        assert figures[mode]["complete"] + figures[mode]["pruned"] == 4
        assert 0.0 <= figures[mode]["idle_slot_fraction"] <= 1.0
    assert figures["sequential"]["pruned"] == 0 and figures["batched"]["pruned"] == 0
    assert figures["diffexp"]["pruned"] >= 1
    ratio = figures["sequential"]["wall_seconds"] / figures["diffexp"]["wall_seconds"]
    assert figures["speedup_diffexp_vs_sequential"] == pytest.approx(ratio)


@pytest.mark.parametrize("peer_samplers", ["shipped", "shared"])
def test_peers_search_with_their_tools_defaults_or_phase1s(peer_samplers):
    """`shipped`: sequential and batched get Optuna's default TPE, diffexp keeps phase 1's;
    `shared`: all get phase 1's. Read from the config each peer's command composes."""
    from benchmarks.tuning_bench import peer_sampler_overrides
    from diffexp.config import compose_checked

    sweepers = {"sequential": "optuna", "batched": "optuna_official", "diffexp": "optuna"}
    startup = {}
    for mode, sweeper in sweepers.items():
        overrides = [f"hydra/sweeper={sweeper}", "search=phase1"]
        cfg = compose_checked(
            overrides + peer_sampler_overrides(mode, peer_samplers), with_hydra=True
        )
        sampler = cfg.hydra.sweeper.sampler
        startup[mode] = (sampler.n_startup_trials, sampler.constant_liar)
    phase1 = (2, True)
    others = (10, False) if peer_samplers == "shipped" else phase1
    assert startup == {"sequential": others, "batched": others, "diffexp": phase1}
    with pytest.raises(ValueError, match="peer_samplers"):
        peer_sampler_overrides("batched", "tuned")
