"""PMT selection: the greedy Fisher ranking is exact, beats random subsets, and its file is
the one `data.pmt_selection` reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffexp.data import load_events
from diffexp.verification.fisher import (
    expected_pe_jacobian,
    per_pmt_information,
    prior_information,
)
from diffexp.verification.selection import evenly_spaced_order, greedy_ranking, select_pmts
from tests.conftest import run_module

K_VALUES = [4, 8, 16, 32, 64, 128]


@pytest.fixture(scope="module")
def selection(simulator):
    return select_pmts(simulator, n_events=100, k_values=K_VALUES, n_random=8, seed=3)


def test_selection_beats_random_subsets_at_every_k(selection):
    curves = selection.curves
    assert curves.k_values == K_VALUES
    for i, k in enumerate(K_VALUES[:-1]):  # the last K keeps every PMT: all curves agree
        better = curves.greedy[i] < curves.random_mean[i]
        assert better.all(), f"K={k}: greedy {curves.greedy[i]} vs random {curves.random_mean[i]}"
    np.testing.assert_allclose(curves.greedy[-1], curves.random_mean[-1], rtol=1e-9)
    # resolution improves with every PMT added
    assert (np.diff(curves.greedy, axis=0) < 0).all()


def test_ranking_is_a_permutation_and_greedy_steps_are_exact(simulator):
    conditions = simulator.sample_conditions(30, np.random.default_rng(1))
    mu, jacobian = expected_pe_jacobian(simulator, conditions)
    prior = prior_information(conditions)
    ranking = greedy_ranking(mu, jacobian, prior)
    assert sorted(ranking.tolist()) == list(range(simulator.n_pmt))
    # brute force: at each of the first steps, the pick maximises mean log det
    information = per_pmt_information(mu, jacobian)
    chosen: list[int] = []
    for step in range(3):
        base = information[:, chosen].sum(axis=1) + prior
        gains = [np.linalg.slogdet(base + information[:, p])[1].mean() for p in range(mu.shape[1])]
        for p in chosen:
            gains[p] = -np.inf
        assert int(np.argmax(gains)) == ranking[step]
        chosen.append(int(ranking[step]))


def test_evenly_spaced_order_spreads_the_first_pmts(simulator):
    order = evenly_spaced_order(simulator.geometry.positions)
    assert sorted(order.tolist()) == list(range(simulator.n_pmt))
    first = simulator.geometry.positions[order[:8]]
    gaps = np.linalg.norm(first[:, None] - first[None], axis=-1)[np.triu_indices(8, 1)]
    assert gaps.min() > 1.0  # metres: no two of the first 8 are neighbours


def test_finite_difference_jacobian_matches_the_inverse_square_energy_law(simulator):
    conditions = simulator.sample_conditions(5, np.random.default_rng(2))
    mu, jacobian = expected_pe_jacobian(simulator, conditions)
    dark = simulator.physics["dark_noise_pe"]
    # mu = E * f(vertex) + dark, so d mu / dE = (mu - dark) / E exactly
    np.testing.assert_allclose(jacobian[..., 3], (mu - dark) / conditions[:, 3:4], rtol=1e-6)


def test_select_pmts_writes_a_ranking_that_training_data_can_use(tmp_path, data_cfg):
    out = tmp_path / "selection"
    result = run_module(
        "diffexp.select_pmts",
        "n_events=40",
        "n_random=2",
        "k_values=[4,16,128]",
        f"output_dir={out}",
    )
    assert result.returncode == 0, result.stderr
    written = json.loads((out / "pmt_selection.json").read_text())
    assert sorted(written["ranking"]) == list(range(128))
    assert written["k_values"] == [4, 16, 128]
    for curve in ("greedy", "evenly_spaced", "random_mean", "random_min", "random_max"):
        table = written["cramer_rao"][curve]
        assert set(table) == {"x_m", "y_m", "z_m", "energy_relative"}
        assert all(len(values) == 3 and all(v > 0 for v in values) for values in table.values())
    assert (out / "cramer_rao.png").stat().st_size > 10_000

    cfg = {
        **data_cfg,
        "n_events": 50,
        "pmt_selection": str(out / "pmt_selection.json"),
        "n_pmts_kept": 16,
    }
    events = load_events(cfg, cache_dir=None)
    assert events.n_pmt == 16
    assert sorted(events.pmt_ids.tolist()) == sorted(written["ranking"][:16])


def test_select_pmts_refuses_a_detector_without_simulator(tmp_path):
    result = run_module(
        "diffexp.select_pmts", "data=npz", "data.path=x.npz", f"output_dir={tmp_path}"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("diffexp: error: data.source='npz'")
