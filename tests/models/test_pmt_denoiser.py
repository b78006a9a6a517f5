"""The per-PMT denoiser and its detector prior: the prior computes the simulator's own
expectation, travels with the weights file, and the no-hit gap round-trips through the
transform."""

from __future__ import annotations

import numpy as np
import pytest

from diffexp.data import EventTransform, simulate_events, simulator_from_config
from diffexp.data.errors import DataError
from diffexp.models import build_denoiser
from diffexp.models.detector_prior import prior_values
from tests.conftest import compose_config


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    cfg = compose_config(tmp_path_factory.mktemp("pmt"), ["model=pmt"])
    events = simulate_events(cfg.data, 200, seed=3)
    transform = EventTransform.fit(events, no_hit_log_charge=float(cfg.model.no_hit_log_charge))
    return cfg, events, transform


def test_prior_equals_the_simulators_expectation(setup):
    cfg, events, transform = setup
    model = build_denoiser(
        cfg.model, events.n_pmt, events.n_conditions, prior_values(cfg.data, transform, None)
    )
    prior = model.get_layer("detector_prior")
    expected = simulator_from_config(cfg.data).expected_pe(events.conditions.astype(np.float64))
    got = np.asarray(prior.expected_pe(events.conditions.astype(np.float32)))
    np.testing.assert_allclose(got, expected, rtol=2e-4)


def test_prior_follows_a_pmt_selection(setup):
    cfg, events, transform = setup
    ids = np.array([5, 17, 100])
    values = prior_values(cfg.data, transform, ids)
    full = prior_values(cfg.data, transform, None)
    np.testing.assert_array_equal(values.positions, full.positions[ids])


def test_prior_travels_with_the_weights_file(setup, tmp_path):
    cfg, events, transform = setup
    model = build_denoiser(
        cfg.model, events.n_pmt, events.n_conditions, prior_values(cfg.data, transform, None)
    )
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    loaded = build_denoiser(cfg.model, events.n_pmt, events.n_conditions, prior_from_weights=True)
    loaded.load_weights(path)
    x = np.random.default_rng(0).normal(size=(7, events.n_pmt)).astype(np.float32)
    t = np.arange(7, dtype=np.int32) * 100
    c = transform.encode_conditions(events.conditions[:7])
    np.testing.assert_allclose(
        np.asarray(loaded([x, t, c])), np.asarray(model([x, t, c])), rtol=1e-5, atol=1e-6
    )


def test_prior_output_shape_per_mode(setup):
    cfg, events, transform = setup
    values = prior_values(cfg.data, transform, None)
    for mode in ("expectation", "geometry", "none"):
        cfg.model.prior = mode
        model = build_denoiser(cfg.model, events.n_pmt, events.n_conditions, values)
        out = model(
            [
                np.zeros((2, events.n_pmt), np.float32),
                np.zeros(2, np.int32),
                np.zeros((2, events.n_conditions), np.float32),
            ]
        )
        assert tuple(out.shape) == (2, events.n_pmt)
    cfg.model.prior = "expectation"


def test_prior_refuses_data_without_a_geometry(setup):
    cfg, _, transform = setup
    with pytest.raises(DataError, match="model.prior=learned"):
        prior_values({"source": "npz"}, transform, None)  # no simulator: no expectation


def test_no_hit_gap_round_trips_and_separates(setup):
    cfg, events, transform = setup
    encoded = transform.encode_charges(events.charges)
    decoded = transform.decode_charges(encoded)
    np.testing.assert_allclose(decoded, events.charges, rtol=1e-4, atol=1e-4)
    log_space = encoded * transform.charge_std + transform.charge_mean
    hit = events.charges > 0
    assert cfg.model.no_hit_log_charge == -2.0
    assert np.allclose(log_space[~hit], -2.0)
    assert log_space[hit].min() >= np.log1p(0.3) - 1e-6  # the threshold: a gap of >= 2.26


def test_transform_version_1_still_loads(setup, tmp_path):
    _, _, transform = setup
    data = transform.to_dict()
    data["format_version"] = 1
    data.pop("no_hit_log_charge")
    old = EventTransform.from_dict(data)
    assert old.no_hit_log_charge == 0.0


def test_a_prior_model_without_its_prior_is_refused(setup):
    cfg, events, _ = setup
    with pytest.raises(ValueError, match="model.prior=none"):
        build_denoiser(cfg.model, events.n_pmt, events.n_conditions)


def test_flop_count_follows_the_pmt_rows(setup):
    from benchmarks.flops import dense_flops_per_sample

    cfg, events, transform = setup
    values = prior_values(cfg.data, transform, None)
    narrow = dense_flops_per_sample(build_denoiser(cfg.model, events.n_pmt, 4, values))
    cfg.model.hidden_dim *= 2
    wide = dense_flops_per_sample(build_denoiser(cfg.model, events.n_pmt, 4, values))
    cfg.model.hidden_dim //= 2
    # the per-PMT blocks (hidden x hidden on every PMT) dominate: ~4x for twice the width
    assert 3.3 < wide / narrow < 4.1
    assert narrow > events.n_pmt * 2 * cfg.model.hidden_dim**2 * cfg.model.n_layers
