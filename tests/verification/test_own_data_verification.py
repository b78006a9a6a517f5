"""Verification of a user's data, where no simulator exists: the learned light model's
expectation feeds the classifier as the simulator's would, and the calibration panel's
bounds still hold when the physics score is calibrated on held-out events with it."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from diffexp.data import simulate_events, simulator_from_config, train_val_split
from diffexp.data.user_geometry import UserGeometry
from diffexp.models.light_model import fit_light_model
from diffexp.verification import known_generators as known
from diffexp.verification.calibration_panel import BOUNDS
from diffexp.verification.classifier import classifier_auc
from diffexp.verification.learned_expectation import LearnedExpectation
from diffexp.verification.score import calibrate
from tests.data.conftest import load_data_conf

N_SAMPLE = 500


@pytest.fixture(scope="module")
def own_data():
    """The default simulation as a user's file: training split, two held-out halves (reference
    and floor, different conditions as on real data) and the light model fitted on training."""
    cfg = load_data_conf("simulated")
    simulator = simulator_from_config(cfg)
    events = simulate_events(cfg, 5000, seed=21)
    training, held_out = train_val_split(events, 2 * N_SAMPLE / 5000, 21)
    geo = simulator.geometry
    geometry = UserGeometry(geo.positions, geo.normals, geo.areas, "exported")
    model = fit_light_model(training, geometry, [0, 1, 2], 3, epochs=8, batch_size=64)
    reference = held_out.subset(np.arange(N_SAMPLE))
    floor = held_out.subset(np.arange(N_SAMPLE, 2 * N_SAMPLE))
    return simulator, training, reference, floor, LearnedExpectation(model, training.pmt_ids)


def test_learned_expectation_classifier_is_as_strong_as_the_simulators(own_data):
    simulator, _, reference, _, learned = own_data
    # A generator a few per cent off: its charges 3 % too high.
    candidate = known.scaled_charges(known.fresh_simulation(simulator, reference, 5), 1.03)
    positions = simulator.geometry.positions
    with threadpool_limits(limits=1):
        with_simulator = classifier_auc(candidate, reference, positions, simulator)
        with_learned = classifier_auc(candidate, reference, positions, learned)
        without = classifier_auc(candidate, reference, positions, None)
    assert with_learned >= with_simulator - 0.02
    assert with_learned > without  # the learned pulls are what make the difference


def test_panel_bounds_hold_with_the_learned_expectation(own_data):
    simulator, training, reference, floor, learned = own_data
    with threadpool_limits(limits=1):
        calibration = calibrate(
            reference,
            floor,
            simulator.geometry.positions,
            None,
            simulator=learned,
            training=training,
        )
        generators = {
            "memorised": known.nearest_training_event(training, reference),
            "charges_x1.05": known.scaled_charges(
                known.fresh_simulation(simulator, reference, 7), 1.05
            ),
            "expected_charges": known.expected_charges(simulator, reference),
        }
        scores = {name: calibration.score(events).score for name, events in generators.items()}
    for name, score in scores.items():
        assert BOUNDS[name].holds(score), f"{name} scored {score:.3f}, must {BOUNDS[name].text()}"
