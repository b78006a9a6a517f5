"""The learned light model: close to the simulator's analytic expectation when fed the
geometry, fitted once per training set (arrays + JSON in the cache, no pickle), and computed
identically inside the denoiser's prior layer (model.prior=learned)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffexp.data import EventTransform, simulate_events, simulator_from_config, train_val_split
from diffexp.data.user_geometry import UserGeometry
from diffexp.models import light_model as lm
from diffexp.models.detector_prior import DetectorPrior, prior_values
from tests.data.conftest import load_data_conf

FIT = {"epochs": 6, "batch_size": 64, "learning_rate": 0.01}


@pytest.fixture(scope="module")
def fitted():
    cfg = load_data_conf("simulated")
    events = simulate_events(cfg, 1500, seed=11)
    training, held_out = train_val_split(events, 0.2, 0)
    simulator = simulator_from_config(cfg)
    geo = simulator.geometry
    geometry = UserGeometry(geo.positions, geo.normals, geo.areas, "data.geometry")
    model = lm.fit_light_model(training, geometry, [0, 1, 2], 3, **FIT)
    return cfg, training, held_out, simulator, model


def _median_relative_error(mu: np.ndarray, truth: np.ndarray) -> float:
    return float(np.median(np.median(np.abs(mu - truth) / truth, axis=0)))


def test_geometry_fed_model_is_close_to_the_simulators_expectation(fitted):
    _, training, held_out, simulator, model = fitted
    truth = simulator.expected_pe(held_out.conditions)
    error = _median_relative_error(model.expected_pe(held_out.conditions), truth)
    # A PMT's mean charge over all events (what a model without conditions knows) is far off.
    baseline = _median_relative_error(np.broadcast_to(training.charges.mean(0), truth.shape), truth)
    assert error < 0.15 < baseline
    # Poisson photoelectrons smeared by 0.3 PE: variance = mu (1 + 0.09), plus the fit error.
    assert 0.95 < model.variance_factor < 1.6
    assert model.threshold_pe == pytest.approx(0.3, abs=0.01)


def test_conditions_only_model_beats_the_per_pmt_mean(fitted):
    _, training, held_out, simulator, _ = fitted
    model = lm.fit_light_model(training, None, None, None, **FIT)
    truth = simulator.expected_pe(held_out.conditions)
    error = _median_relative_error(model.expected_pe(held_out.conditions), truth)
    baseline = _median_relative_error(np.broadcast_to(training.charges.mean(0), truth.shape), truth)
    assert error < 0.7 * baseline


def test_fitted_once_per_training_set_and_cached_as_arrays_and_json(fitted, tmp_path, monkeypatch):
    _, training, _, _, model = fitted
    monkeypatch.setattr(lm, "fit_light_model", lambda *args, **kwargs: model)
    first = lm.cached_light_model(training, model.geometry, [0, 1, 2], 3, tmp_path, FIT)
    (npz,) = tmp_path.glob("light_model_*.npz")
    meta = json.loads(npz.with_suffix(".json").read_text())
    assert meta["vertex_columns"] == [0, 1, 2] and meta["energy_column"] == 3
    with np.load(npz, allow_pickle=False) as archive:
        assert set(archive.files) >= {f"weight_{name}" for name in lm.WEIGHT_NAMES}

    def refit(*args, **kwargs):
        raise AssertionError("fitted again although cached")

    monkeypatch.setattr(lm, "fit_light_model", refit)
    again = lm.cached_light_model(training, model.geometry, [0, 1, 2], 3, tmp_path, FIT)
    np.testing.assert_array_equal(
        again.expected_pe(training.conditions[:50]), first.expected_pe(training.conditions[:50])
    )
    assert again.variance_factor == first.variance_factor
    with pytest.raises(AssertionError, match="fitted again"):  # other events: another key
        lm.cached_light_model(training.subset(np.arange(100)), None, None, None, tmp_path, FIT)


def test_corrupt_cache_is_refitted_not_trusted(fitted, tmp_path, monkeypatch):
    _, training, _, _, model = fitted
    monkeypatch.setattr(lm, "fit_light_model", lambda *args, **kwargs: model)
    lm.cached_light_model(training, model.geometry, [0, 1, 2], 3, tmp_path, FIT)
    (npz,) = tmp_path.glob("light_model_*.npz")
    npz.write_bytes(b"not an npz")
    calls = []
    monkeypatch.setattr(lm, "fit_light_model", lambda *a, **k: calls.append(1) or model)
    lm.cached_light_model(training, model.geometry, [0, 1, 2], 3, tmp_path, FIT)
    assert calls == [1] and np.load(npz, allow_pickle=False).files


def test_prior_layer_computes_the_light_models_expectation(fitted):
    cfg, training, held_out, _, model = fitted
    transform = EventTransform.fit(training)
    layer = DetectorPrior(training.n_pmt, training.n_conditions, "learned")
    layer.set_values(prior_values(cfg, transform, None, "learned", model))
    inside = np.asarray(layer.expected_pe_learned(transform.encode_conditions(held_out.conditions)))
    np.testing.assert_allclose(inside, model.expected_pe(held_out.conditions), rtol=2e-3)
    features = np.asarray(layer(transform.encode_conditions(held_out.conditions)))
    assert features.shape == (held_out.n_events, training.n_pmt, 5)
    assert np.all(np.isfinite(features))
