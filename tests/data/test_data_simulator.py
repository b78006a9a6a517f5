"""The simulator follows the configured physics, is seeded, and gives sensible events."""

from __future__ import annotations

import numpy as np
import pytest

from diffexp.data import (
    DataError,
    DetectorSimulator,
    build_geometry,
    simulate_events,
    simulator_from_config,
)


def test_mean_total_charge_is_linear_in_energy(data_conf) -> None:
    cfg = data_conf("simulated", **{"physics.dark_noise_pe": 0.5})
    simulator = simulator_from_config(cfg)
    rng = np.random.default_rng(0)
    vertices = simulator.sample_conditions(4000, rng)[:, :3]  # the same vertices in every bin
    energies = np.linspace(1.0, 10.0, 8)
    mean_totals = []
    for energy in energies:
        conditions = np.column_stack([vertices, np.full(len(vertices), energy)])
        mean_totals.append(simulator.simulate(conditions, rng).sum(axis=1).mean())
    slope, intercept = np.polyfit(energies, mean_totals, 1)
    residuals = np.asarray(mean_totals) - (slope * energies + intercept)

    dark_total = simulator.n_pmt * 0.5
    assert intercept == pytest.approx(dark_total, rel=0.03)
    assert np.max(np.abs(residuals) / mean_totals) < 0.005
    # The slope is the configured light per MeV, averaged over the same vertices.
    light_per_mev = simulator.expected_pe(np.column_stack([vertices, np.ones(len(vertices))]))
    expected_slope = (light_per_mev - 0.5).sum(axis=1).mean()
    assert slope == pytest.approx(expected_slope, rel=0.005)


def test_same_seed_same_events_other_seed_different(sim_cfg) -> None:
    first = simulate_events(sim_cfg, 200, seed=11)
    again = simulate_events(sim_cfg, 200, seed=11)
    other = simulate_events(sim_cfg, 200, seed=12)
    np.testing.assert_array_equal(first.charges, again.charges)
    np.testing.assert_array_equal(first.conditions, again.conditions)
    assert not np.array_equal(first.charges, other.charges)
    assert not np.array_equal(first.conditions, other.conditions)


def _on_axis_pe(data_conf, attenuation_length_m: float, distances: np.ndarray) -> np.ndarray:
    """Expected PE (dark noise removed) of barrel PMT 0 for vertices along its normal."""
    cfg = data_conf("simulated", **{"physics.attenuation_length_m": attenuation_length_m})
    simulator = simulator_from_config(cfg)
    position, normal = simulator.geometry.positions[0], simulator.geometry.normals[0]
    conditions = np.column_stack(
        [position + distances[:, None] * normal, np.full(len(distances), 5.0)]
    )
    return simulator.expected_pe(conditions)[:, 0] - cfg.physics.dark_noise_pe


@pytest.mark.parametrize("attenuation_length_m", [1.0, 5.0, 50.0])
def test_expected_pe_falls_with_distance_and_attenuation(
    data_conf, attenuation_length_m: float
) -> None:
    distances = np.array([0.5, 1.0, 2.0, 3.5])
    pe = _on_axis_pe(data_conf, attenuation_length_m, distances)
    assert np.all(np.diff(pe) < 0)
    expected_ratio = (distances[0] / distances) ** 2 * np.exp(
        -(distances - distances[0]) / attenuation_length_m
    )
    np.testing.assert_allclose(pe / pe[0], expected_ratio, rtol=1e-9)


def test_shorter_attenuation_gives_less_light(data_conf) -> None:
    distances = np.array([1.0, 3.0])
    short = _on_axis_pe(data_conf, 1.0, distances)
    long = _on_axis_pe(data_conf, 10.0, distances)
    np.testing.assert_allclose(short / long, np.exp(-distances * (1.0 - 0.1)), rtol=1e-9)


def test_pmt_facing_away_sees_only_dark_noise(sim_cfg) -> None:
    simulator = simulator_from_config(sim_cfg)
    position, normal = simulator.geometry.positions[0], simulator.geometry.normals[0]
    behind = np.append(position - 0.5 * normal, 5.0)[None, :]  # outside, behind PMT 0
    assert simulator.expected_pe(behind)[0, 0] == pytest.approx(sim_cfg.physics.dark_noise_pe)


def test_charges_respect_threshold_and_are_non_negative(sim_cfg) -> None:
    events = simulate_events(sim_cfg, 300, seed=3)
    charges = events.charges
    assert charges.dtype == np.float32
    assert charges.shape == (300, 128)
    assert np.all(charges >= 0)
    assert np.all(charges[charges > 0] >= sim_cfg.physics.threshold_pe)
    assert np.any(charges != np.round(charges))  # smeared, not integer photoelectrons


def test_default_config_gives_typical_events(sim_cfg) -> None:
    events = simulate_events(sim_cfg, 2000, seed=5)
    totals = events.charges.sum(axis=1)
    hit_fraction = (events.charges > 0).mean(axis=1)
    assert 200 < np.median(totals) < 2000
    assert np.percentile(totals, 95) < 2500
    assert 0.3 < np.median(hit_fraction) < 0.97
    assert hit_fraction.min() > 0 and hit_fraction.max() <= 1.0


def test_sampled_conditions_lie_in_the_fiducial_volume(sim_cfg) -> None:
    simulator = simulator_from_config(sim_cfg)
    conditions = simulator.sample_conditions(5000, np.random.default_rng(1))
    margin = sim_cfg.fiducial_margin_m
    radius = np.hypot(conditions[:, 0], conditions[:, 1])
    assert radius.max() <= sim_cfg.geometry.radius_m - margin
    assert np.abs(conditions[:, 2]).max() <= sim_cfg.geometry.half_height_m - margin
    assert conditions[:, 3].min() >= sim_cfg.energy_min_mev
    assert conditions[:, 3].max() <= sim_cfg.energy_max_mev
    # Uniform in volume: half the vertices inside radius R / sqrt(2).
    inner = np.mean(radius < (sim_cfg.geometry.radius_m - margin) / np.sqrt(2))
    assert inner == pytest.approx(0.5, abs=0.03)


def test_geometry_layout(sim_cfg) -> None:
    geometry = build_geometry(sim_cfg.geometry)
    assert geometry.n_pmt == 6 * 16 + 2 * (6 + 10)
    np.testing.assert_allclose(np.linalg.norm(geometry.normals, axis=1), 1.0)
    # Every PMT looks at the detector centre's side: normal . (centre - position) > 0.
    assert np.all(np.einsum("ij,ij->i", geometry.normals, -geometry.positions) > 0)
    flat = geometry.unrolled_coordinates()
    assert flat.shape == (geometry.n_pmt, 2)
    assert len(np.unique(flat.round(6), axis=0)) == geometry.n_pmt
    # Caps are drawn above and below the barrel rectangle.
    barrel_top = flat[geometry.region == 0, 1].max()
    assert flat[geometry.region == 1, 1].min() > barrel_top
    assert flat[geometry.region == -1, 1].max() < flat[geometry.region == 0, 1].min()


def test_simulator_needs_simulated_source(write_npz) -> None:
    npz_cfg = write_npz(charges=np.ones((4, 3)), conditions=np.ones((4, 2)))
    with pytest.raises(DataError, match="data.source='npz'"):
        simulator_from_config(npz_cfg)


def test_invalid_physics_is_a_data_error(sim_cfg) -> None:
    geometry = build_geometry(sim_cfg.geometry)
    physics = dict(sim_cfg.physics, attenuation_length_m=0.0)
    with pytest.raises(DataError, match="data.physics.attenuation_length_m"):
        DetectorSimulator(geometry, physics)
    del physics["efficiency"]
    with pytest.raises(DataError, match="data.physics.efficiency is missing"):
        DetectorSimulator(geometry, physics)
