"""Generators whose quality is known in advance: they pin the physics score's scale.

Each returns an EventSet for the requested conditions. The calibration panel
(`python -m diffexp.verification.calibration_panel`) and its test score them all; the
tolerance-edge generator also serves as the score's "bad" reference (score.py).
"""

from __future__ import annotations

import numpy as np

from diffexp.data import DetectorSimulator, EventSet
from diffexp.data.readout import PeReadout
from diffexp.verification.features import energy_index


def fresh_simulation(
    simulator: DetectorSimulator, like: EventSet, seed: int, conditions: np.ndarray | None = None
) -> EventSet:
    """An independent simulation of `like`'s conditions (or of `conditions`, labelled with
    `like`'s), with `like`'s PMT columns: the best any generator can do."""
    truth = like.conditions if conditions is None else conditions
    charges = simulator.simulate(truth, np.random.default_rng(seed))[:, like.pmt_ids]
    return EventSet(charges, like.conditions, like.condition_names, like.pmt_ids)


def read_out_simulation(
    simulator: DetectorSimulator, like: EventSet, readout: PeReadout | None, seed: int
) -> EventSet:
    """A fresh simulation passed through the readout verify applies to generated charges
    (`data.readout`, with the simulator's expectation as its count prior): a perfect
    generator as verify would see it, so the readout must not make it distinguishable."""
    events = fresh_simulation(simulator, like, seed)
    if readout is None:
        return events
    expected = simulator.expected_pe(like.conditions)[:, like.pmt_ids]
    charges = readout.apply(events.charges, np.random.default_rng([seed, 1]), expected)
    return EventSet(charges, like.conditions, like.condition_names, like.pmt_ids)


def nearest_training_event(training: EventSet, like: EventSet) -> EventSet:
    """For each of `like`'s conditions, the charges of the training event with the nearest
    conditions (standardised): a generator that memorised its training set."""
    from sklearn.neighbors import NearestNeighbors

    scale = training.conditions.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    index = NearestNeighbors(n_neighbors=1).fit(training.conditions / scale)
    _, nearest = index.kneighbors(like.conditions / scale)
    return EventSet(
        training.charges[nearest[:, 0]], like.conditions, like.condition_names, like.pmt_ids
    )


def expected_charges(simulator: DetectorSimulator, like: EventSet) -> EventSet:
    """The simulator's mean charges for `like`'s conditions, read through the hit threshold:
    the right physics without any fluctuation."""
    mean = simulator.expected_pe(like.conditions)[:, like.pmt_ids]
    mean[mean < simulator.physics["threshold_pe"]] = 0.0
    return EventSet(mean, like.conditions, like.condition_names, like.pmt_ids)


def scaled_charges(events: EventSet, factor: float) -> EventSet:
    """Every charge multiplied by `factor`: an energy-scale error of factor - 1."""
    return EventSet(
        events.charges * factor, events.conditions, events.condition_names, events.pmt_ids
    )


def shuffled_conditions(events: EventSet, seed: int) -> EventSet:
    """The same charges paired with another event's conditions: right marginals, no physics."""
    order = np.random.default_rng(seed).permutation(events.n_events)
    return EventSet(
        events.charges, events.conditions[order], events.condition_names, events.pmt_ids
    )


def dead_pmt(events: EventSet, column: int | None = None) -> EventSet:
    """One PMT reads 0 in every event (default: the PMT of median mean charge, a typical one)."""
    charges = events.charges.copy()
    if column is None:
        means = charges.mean(axis=0)
        column = int(np.argsort(means)[len(means) // 2])
    charges[:, column] = 0.0
    return EventSet(charges, events.conditions, events.condition_names, events.pmt_ids)


def tolerance_edge(
    floor: EventSet,
    condition_errors: np.ndarray,
    energy_scale_error: float,
    seed: int,
    simulator: DetectorSimulator | None = None,
) -> EventSet:
    """Where a physicist's tolerance ends: events whose conditions are off by Gaussian
    errors of `condition_errors` (per condition, absolute; the energy's relative) and whose
    charges carry an energy-scale error of `energy_scale_error`.

    With the `simulator`, the charges are simulated at the shifted conditions and labelled
    with `floor`'s (pairs with the reference stay pairs); without it (a user's own data)
    `floor`'s labels are shifted instead, which is the same joint distribution.
    """
    rng = np.random.default_rng(seed)
    conditions = floor.conditions.astype(np.float64)
    shifted = conditions + rng.standard_normal(conditions.shape) * condition_errors
    energy = energy_index(floor.condition_names)
    if energy is not None:
        factor = np.maximum(
            1.0 + condition_errors[energy] * rng.standard_normal(len(conditions)), 0.1
        )
        shifted[:, energy] = conditions[:, energy] * factor
    if simulator is not None:
        moved = fresh_simulation(simulator, floor, seed + 1, conditions=shifted)
    else:
        moved = EventSet(floor.charges, shifted, floor.condition_names, floor.pmt_ids)
    return scaled_charges(moved, 1.0 + energy_scale_error)


def _read_out(charges: np.ndarray, threshold_pe: float) -> np.ndarray:
    """Charges below the hit threshold read 0, as the detector reads them."""
    return np.where(charges < threshold_pe, 0.0, np.maximum(charges, 0.0))


def gain_miscalibration(
    events: EventSet, spread: float, seed: int, threshold_pe: float
) -> EventSet:
    """Each PMT's charges x its own gain error, 1 + `spread` x N(0, 1) (fixed per PMT): a
    per-PMT calibration off by `spread`."""
    gains = 1.0 + spread * np.random.default_rng(seed).standard_normal(events.n_pmt)
    charges = _read_out(events.charges * gains[None, :], threshold_pe)
    return EventSet(charges, events.conditions, events.condition_names, events.pmt_ids)


def vertex_shift(
    simulator: DetectorSimulator, like: EventSet, shift_m: float, seed: int
) -> EventSet:
    """Events simulated with every vertex moved by `shift_m` along x, labelled with the
    true conditions: a systematic vertex bias."""
    conditions = like.conditions.astype(np.float64).copy()
    conditions[:, 0] += shift_m
    return fresh_simulation(simulator, like, seed, conditions=conditions)


def narrow_scatter(simulator: DetectorSimulator, events: EventSet, factor: float) -> EventSet:
    """Each hit's charge pulled towards its expectation, mu + `factor` (charge - mu): per-PMT
    fluctuations (1 - factor) too narrow, what the demo's model does (factor ~0.96)."""
    mean = simulator.expected_pe(events.conditions)[:, events.pmt_ids]
    charges = events.charges.astype(np.float64)
    narrowed = np.where(charges > 0, mean + factor * (charges - mean), 0.0)
    charges = _read_out(narrowed, simulator.physics["threshold_pe"])
    return EventSet(charges, events.conditions, events.condition_names, events.pmt_ids)
