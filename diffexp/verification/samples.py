"""The reference and noise-floor samples a run is verified against.

Simulated data: fresh conditions (a seed the training never used), two independent
simulations of them (reference and floor), the run's PMT selection applied. A user's own
data: the run's held-out validation events, split in two halves (no simulator, so the
floor is another sample of the same distribution rather than of the same conditions).
Either way the run's training events come back too (its data config, seed and
`train_val_split`, exactly as the training made them), for the memorisation test, and the
expectation each PMT's charge is compared with: the simulator's, or on a user's data the
light model fitted on those training events (`diffexp.models.light_model`, cached).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diffexp.data import (
    SIMULATED_CONDITION_NAMES,
    DataError,
    DetectorSimulator,
    EventSet,
    apply_pmt_selection,
    load_events,
    simulator_from_config,
    train_val_split,
)
from diffexp.data.config import to_plain
from diffexp.data.detector import describe_detector
from diffexp.models.light_model import light_model_for
from diffexp.verification.learned_expectation import LearnedExpectation

log = logging.getLogger("diffexp.verify")


@dataclass
class ReferenceSamples:
    reference: EventSet
    floor: EventSet
    simulator: DetectorSimulator | None  # None for a user's own data
    pmt_positions: np.ndarray | None  # [n_pmt, 3] of the charge columns, when known
    hit_threshold_pe: float  # the readout threshold applied to generated charges
    training: EventSet | None = None  # the run's training events (memorisation)
    learned: LearnedExpectation | None = None  # a user's data: the light model's expectation
    note: str | None = None  # why the samples are smaller than asked, when they are

    @property
    def expectation(self) -> DetectorSimulator | LearnedExpectation | None:
        """What the charges are compared with (pulls, chi2): the simulator, else the
        learned light model."""
        return self.simulator if self.simulator is not None else self.learned


def training_events(data_cfg: dict[str, Any], cache_dir: str | Path | None) -> EventSet:
    """The events the run was trained on, rebuilt from its data config (cached when
    simulated): the same `load_events` + `train_val_split` as the training session."""
    events = load_events(data_cfg, cache_dir)
    training, _ = train_val_split(events, data_cfg["val_fraction"], data_cfg["seed"])
    return training


def simulated_samples(
    data_cfg: dict[str, Any],
    n_events: int,
    seed: int,
    cache_dir: str | Path | None = None,
    with_training: bool = True,
) -> ReferenceSamples:
    simulator = simulator_from_config(data_cfg)
    conditions = simulator.sample_conditions(n_events, np.random.default_rng(seed))
    samples = []
    for offset in (1, 2):
        charges = simulator.simulate(conditions, np.random.default_rng(seed + offset))
        full = EventSet(charges, conditions.astype(np.float32), SIMULATED_CONDITION_NAMES)
        samples.append(apply_pmt_selection(full, data_cfg))
    reference, floor = samples
    return ReferenceSamples(
        reference=reference,
        floor=floor,
        simulator=simulator,
        pmt_positions=simulator.geometry.positions[reference.pmt_ids],
        hit_threshold_pe=float(simulator.physics["threshold_pe"]),
        training=training_events(data_cfg, cache_dir) if with_training else None,
    )


def _held_out_note(n_asked: int, half: int, validation: EventSet, val_fraction: float) -> str:
    note = (
        f"reference and floor hold {half} held-out events each ({n_asked} asked): the file's "
        f"validation split (data.val_fraction={val_fraction}) has {validation.n_events}; "
        f"verify with more by raising data.val_fraction (and retraining)"
    )
    log.warning(note)
    return note


def own_data_samples(
    data_cfg: dict[str, Any],
    cache_dir: str | Path | None,
    n_events: int,
    with_expectation: bool = True,
) -> ReferenceSamples:
    """Reference and floor: the two halves of the run's held-out events (never trained on);
    the learned expectation fitted on its training events (`with_expectation`)."""
    events = load_events(data_cfg, cache_dir)
    training, validation = train_val_split(events, data_cfg["val_fraction"], data_cfg["seed"])
    half = min(n_events, validation.n_events // 2)
    if half < 20:
        raise DataError(
            f"data.val_fraction={data_cfg['val_fraction']} leaves {validation.n_events} held-out "
            "events; verification needs at least 40: use a larger val_fraction"
        )
    note = None
    if half < n_events:
        note = _held_out_note(n_events, half, validation, data_cfg["val_fraction"])
    detector = describe_detector(data_cfg, events.condition_names)
    positions = None if detector.geometry is None else detector.geometry.positions
    learned = None
    if with_expectation:
        model = light_model_for(data_cfg, training, cache_dir)
        learned = LearnedExpectation(model, training.pmt_ids)
    positive = events.charges[events.charges > 0]
    return ReferenceSamples(
        reference=validation.subset(np.arange(half)),
        floor=validation.subset(np.arange(half, 2 * half)),
        simulator=None,
        pmt_positions=None if positions is None else positions[events.pmt_ids],
        # A user's data carry no threshold: the smallest charge ever read is the best guess.
        hit_threshold_pe=float(positive.min()) if positive.size else 0.0,
        training=training,
        learned=learned,
        note=note,
    )


def reference_samples(
    data_cfg, cache_dir: str | Path | None, n_events: int, seed: int, with_training: bool = True
) -> ReferenceSamples:
    """Reference and floor samples for a run's `data` config (simulated or npz), and its
    training events unless `with_training` is false (then `training` is None)."""
    data = to_plain(data_cfg)
    if data.get("source") == "simulated":
        return simulated_samples(data, n_events, seed, cache_dir, with_training)
    return own_data_samples(data, cache_dir, n_events)
