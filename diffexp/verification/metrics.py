"""Raw distances between a candidate sample and the reference sample, one function per
physics question. Each returns {metric name: distance}; larger is worse, and the scale is
set later by the noise floor and the bad reference (see score.py).

Every distance compares distributions given the conditions, never marginals alone: a
generator with the right marginal charges but the wrong physics (conditions shuffled)
must not pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from diffexp.data import EventSet
from diffexp.verification import classifier
from diffexp.verification.classifier import ClassifierResult, ClassifierSettings
from diffexp.verification.features import energy_column, high_level_features
from diffexp.verification.likelihood import Expectation
from diffexp.verification.reconstruction import Reconstruction


@dataclass(frozen=True)
class MetricSettings:
    """Knobs of the raw distances (conf/verify.yaml `score`)."""

    n_energy_bins: int = 5  # calorimetry: equal-population energy bins
    classifier_folds: int = 3  # classifier test: cross-validation folds
    classifier_iterations: int = 100  # classifier test: boosting iterations
    classifier_learning_rate: float = 0.05  # classifier test: shrinkage per iteration
    classifier_max_leaf_nodes: int = 8  # classifier test: leaves per tree
    classifier_max_bins: int = 64  # classifier test: histogram bins per input
    classifier_repeats: int = 5  # classifier test: seeds averaged into the AUC
    tolerance_energy_scale: float = 0.02  # bad reference: charges x (1 + this)
    tolerance_resolution: float = 1.0  # bad reference: conditions smeared by this x resolution
    tolerance_condition_spread: float = 0.05  # ... without a reconstruction: x each spread
    floor_bootstraps: int = 20  # resamples of the floor sample that measure its noise
    floor_noise_sigmas: float = 2.0  # the scale's floor: measured floor + this x its noise
    seed: int = 0  # classifier, strata, bootstraps and the bad reference's draws

    def classifier(self) -> ClassifierSettings:
        return ClassifierSettings(
            folds=self.classifier_folds,
            iterations=self.classifier_iterations,
            learning_rate=self.classifier_learning_rate,
            max_leaf_nodes=self.classifier_max_leaf_nodes,
            max_bins=self.classifier_max_bins,
            seed=self.seed,
            repeats=self.classifier_repeats,
        )


@dataclass
class ReferenceContext:
    """What every candidate is compared against, computed once from the reference."""

    reference: EventSet
    pmt_positions: np.ndarray | None
    settings: MetricSettings
    energy_edges: np.ndarray | None
    reconstruction: Reconstruction | None
    # the expected charges (the detector simulator or a learned light model), when known
    simulator: Expectation | None = None
    classifier_inputs: np.ndarray | None = None  # the reference's, computed once


def build_context(
    reference: EventSet,
    pmt_positions: np.ndarray | None,
    settings: MetricSettings,
    reconstruction: Reconstruction | None = None,
    simulator: Expectation | None = None,
) -> ReferenceContext:
    """Energy bins and the classifier inputs of the reference, shared by all candidates."""
    energy_index = energy_column(reference)
    energy_edges = None
    if energy_index is not None:
        energy = reference.conditions[:, energy_index]
        energy_edges = np.quantile(energy, np.linspace(0, 1, settings.n_energy_bins + 1))
    return ReferenceContext(
        reference=reference,
        pmt_positions=pmt_positions,
        settings=settings,
        energy_edges=energy_edges,
        reconstruction=reconstruction,
        simulator=simulator,
        classifier_inputs=classifier.classifier_inputs(reference, pmt_positions, simulator),
    )


# --- 1. calorimetry ---------------------------------------------------------------------


def _response_per_bin(context: ReferenceContext, events: EventSet) -> tuple[np.ndarray, np.ndarray]:
    energy = events.conditions[:, energy_column(events)].astype(np.float64)
    response = events.charges.sum(axis=1, dtype=np.float64) / np.maximum(energy, 1e-9)
    bins = np.clip(
        np.searchsorted(context.energy_edges, energy, side="right") - 1,
        0,
        len(context.energy_edges) - 2,
    )
    means, widths = [], []
    for b in range(len(context.energy_edges) - 1):
        values = response[bins == b]
        means.append(values.mean() if values.size else np.nan)
        widths.append(values.std() if values.size > 1 else np.nan)
    return np.array(means), np.array(widths)


def calorimetry(context: ReferenceContext, candidate: EventSet) -> dict[str, float]:
    """Energy scale and resolution: mean and width of total charge / E in energy bins,
    as mean relative differences from the reference."""
    ref_mean, ref_width = _response_per_bin(context, context.reference)
    mean, width = _response_per_bin(context, candidate)
    return {
        "energy_scale": float(np.nanmean(np.abs(mean - ref_mean) / np.abs(ref_mean))),
        "energy_resolution": float(np.nanmean(np.abs(width - ref_width) / ref_width)),
    }


# --- 2. closure ---------------------------------------------------------------------------


def _residuals(context: ReferenceContext, events: EventSet) -> np.ndarray:
    predicted = context.reconstruction.predict(events, context.pmt_positions)
    truth = events.conditions.astype(np.float64)
    residual = predicted - truth
    energy_index = energy_column(events)
    if energy_index is not None:  # energy resolution is relative
        residual[:, energy_index] /= np.maximum(truth[:, energy_index], 1e-9)
    return residual


def closure(context: ReferenceContext, candidate: EventSet) -> dict[str, float]:
    """Bias and resolution of the fixed reconstruction on the candidate vs the reference,
    in units of the reference resolution (averaged over x, y, z, E)."""
    ref = _residuals(context, context.reference)
    cand = _residuals(context, candidate)
    ref_bias, ref_width = ref.mean(axis=0), ref.std(axis=0)
    bias, width = cand.mean(axis=0), cand.std(axis=0)
    return {
        "closure_bias": float(np.mean(np.abs(bias - ref_bias) / ref_width)),
        "closure_resolution": float(np.mean(np.abs(width - ref_width) / ref_width)),
    }


# --- 3. per-PMT charges -------------------------------------------------------------------


def _per_pmt_residuals(context: ReferenceContext, events: EventSet) -> np.ndarray:
    """[N, n_pmt]: pulls against the expected charges where an expectation is known (free of
    the conditions' spread), else the charges themselves."""
    if context.simulator is not None:
        return classifier.pulls(events, context.simulator)
    return events.charges.astype(np.float64)


def pmt_distributions(context: ReferenceContext, candidate: EventSet) -> dict[str, float]:
    """Per-PMT charge bias: for each PMT the difference of the candidate's and the
    reference's mean pull (Welch z, mean over events), squared and averaged over PMTs; about
    1 for the right charges, large for a dead or mis-calibrated PMT or a scale error.

    (It replaced per-PMT charge histograms and the hit multiplicity within condition cells,
    whose tolerance-edge distance sat inside the floor's noise: they could not fail.)"""
    ours = _per_pmt_residuals(context, candidate)
    theirs = _per_pmt_residuals(context, context.reference)
    standard_error = np.sqrt(
        ours.var(axis=0, ddof=1) / len(ours) + theirs.var(axis=0, ddof=1) / len(theirs)
    )
    z = (ours.mean(axis=0) - theirs.mean(axis=0)) / np.maximum(standard_error, 1e-9)
    return {"pmt_charge_bias": float(np.mean(z**2))}


# --- 4. classifier two-sample test ---------------------------------------------------------


def classifier_result(context: ReferenceContext, candidate: EventSet) -> ClassifierResult:
    """The classifier's AUC per seed (diffexp/verification/classifier.py)."""
    return classifier.classifier_result(
        candidate,
        context.reference,
        context.pmt_positions,
        context.simulator,
        context.settings.classifier(),
        reference_inputs=context.classifier_inputs,
    )


def classifier_auc(context: ReferenceContext, candidate: EventSet) -> dict[str, float]:
    """Cross-validated ROC AUC of a boosted-tree classifier told candidate from reference,
    the mean over the classifier's seeds; 0.5 means indistinguishable."""
    return {"classifier_auc": classifier_result(context, candidate).mean}


# --- 5. Fréchet distance --------------------------------------------------------------------


def _joint(context: ReferenceContext, events: EventSet) -> np.ndarray:
    features, _ = high_level_features(events, context.pmt_positions)
    return np.concatenate([events.conditions.astype(np.float64), features], axis=1)


def frechet(context: ReferenceContext, candidate: EventSet) -> dict[str, float]:
    """Fréchet distance between Gaussians fitted to (conditions, high-level features),
    standardised by the reference, so the condition-feature correlations count."""
    reference = _joint(context, context.reference)
    mean, scale = reference.mean(axis=0), reference.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    a = (reference - mean) / scale
    b = (_joint(context, candidate) - mean) / scale
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cross = linalg.sqrtm(cov_a @ cov_b)
    distance = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(cross))
    return {"frechet_distance": float(max(distance, 0.0))}
