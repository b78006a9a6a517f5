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
from sklearn.cluster import KMeans

from diffexp.data import DetectorSimulator, EventSet
from diffexp.verification import classifier
from diffexp.verification.classifier import ClassifierSettings
from diffexp.verification.features import energy_column, high_level_features
from diffexp.verification.reconstruction import Reconstruction


@dataclass(frozen=True)
class MetricSettings:
    """Knobs of the raw distances (conf/verify.yaml `score`)."""

    n_energy_bins: int = 5  # calorimetry: equal-population energy bins
    n_condition_strata: int = 6  # per-PMT histograms: k-means cells of the conditions
    n_charge_bins: int = 8  # per-PMT histograms: equal-population bins of positive charge
    classifier_folds: int = 3  # classifier test: cross-validation folds
    classifier_iterations: int = 100  # classifier test: boosting iterations
    classifier_learning_rate: float = 0.05  # classifier test: shrinkage per iteration
    classifier_max_leaf_nodes: int = 8  # classifier test: leaves per tree
    classifier_max_bins: int = 64  # classifier test: histogram bins per input
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
        )


@dataclass
class ReferenceContext:
    """What every candidate is compared against, computed once from the reference."""

    reference: EventSet
    pmt_positions: np.ndarray | None
    settings: MetricSettings
    energy_edges: np.ndarray | None
    strata: KMeans
    charge_edges: list[np.ndarray]
    multiplicity_edges: np.ndarray
    reconstruction: Reconstruction | None
    simulator: DetectorSimulator | None = None  # the detector's, when known: pulls
    classifier_inputs: np.ndarray | None = None  # the reference's, computed once


def _standardised(conditions: np.ndarray, reference: np.ndarray) -> np.ndarray:
    scale = reference.std(axis=0)
    return (conditions - reference.mean(axis=0)) / np.where(scale > 0, scale, 1.0)


def build_context(
    reference: EventSet,
    pmt_positions: np.ndarray | None,
    settings: MetricSettings,
    reconstruction: Reconstruction | None = None,
    simulator: DetectorSimulator | None = None,
) -> ReferenceContext:
    """Bin edges and condition strata fitted on the reference, shared by all candidates."""
    energy_index = energy_column(reference)
    energy_edges = None
    if energy_index is not None:
        energy = reference.conditions[:, energy_index]
        energy_edges = np.quantile(energy, np.linspace(0, 1, settings.n_energy_bins + 1))
    conditions = reference.conditions.astype(np.float64)
    n_strata = max(1, min(settings.n_condition_strata, reference.n_events // 20))
    strata = KMeans(n_strata, n_init=3, random_state=settings.seed)
    strata.fit(_standardised(conditions, conditions))
    quantiles = np.linspace(0, 1, settings.n_charge_bins + 1)[1:-1]
    charge_edges = []
    for column in reference.charges.T:
        positive = column[column > 0]
        edges = np.unique(np.quantile(positive, quantiles)) if positive.size else np.array([])
        charge_edges.append(edges)
    hits = (reference.charges > 0).sum(axis=1)
    multiplicity_edges = np.unique(np.quantile(hits, quantiles) + 0.5)
    return ReferenceContext(
        reference=reference,
        pmt_positions=pmt_positions,
        settings=settings,
        energy_edges=energy_edges,
        strata=strata,
        charge_edges=charge_edges,
        multiplicity_edges=multiplicity_edges,
        reconstruction=reconstruction,
        simulator=simulator,
        classifier_inputs=classifier.classifier_inputs(reference, pmt_positions, simulator),
    )


def _stratum(context: ReferenceContext, events: EventSet) -> np.ndarray:
    reference = context.reference.conditions.astype(np.float64)
    return context.strata.predict(_standardised(events.conditions.astype(np.float64), reference))


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


# --- 3. per-PMT charge and hit multiplicity -----------------------------------------------


def _separation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Histogram separation power 1/2 sum (p - q)^2 / (p + q) over the last axis (0..1)."""
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1)
    q = q / np.maximum(q.sum(axis=-1, keepdims=True), 1)
    total = p + q
    return 0.5 * np.sum(np.where(total > 0, (p - q) ** 2 / np.where(total > 0, total, 1), 0), -1)


def _charge_histograms(context: ReferenceContext, events: EventSet) -> np.ndarray:
    """Counts [n_strata, n_pmt, n_bins]: bin 0 is "no hit", then the positive-charge bins."""
    n_strata = context.strata.n_clusters
    n_bins = context.settings.n_charge_bins + 1
    stratum = _stratum(context, events)
    histograms = np.zeros((n_strata, events.n_pmt, n_bins))
    for pmt, (column, edges) in enumerate(zip(events.charges.T, context.charge_edges, strict=True)):
        bins = np.where(column > 0, 1 + np.searchsorted(edges, column, side="right"), 0)
        np.add.at(histograms[:, pmt], (stratum, bins), 1)
    return histograms


def _multiplicity_histograms(context: ReferenceContext, events: EventSet) -> np.ndarray:
    hits = (events.charges > 0).sum(axis=1)
    bins = np.searchsorted(context.multiplicity_edges, hits)
    histograms = np.zeros((context.strata.n_clusters, len(context.multiplicity_edges) + 1))
    np.add.at(histograms, (_stratum(context, events), bins), 1)
    return histograms


def pmt_distributions(context: ReferenceContext, candidate: EventSet) -> dict[str, float]:
    """Separation power of per-PMT charge histograms (mean over PMTs and the worst PMT) and
    of the hit multiplicity, within cells of similar conditions."""
    per_pmt = _separation(
        _charge_histograms(context, candidate), _charge_histograms(context, context.reference)
    ).mean(axis=0)
    multiplicity = _separation(
        _multiplicity_histograms(context, candidate),
        _multiplicity_histograms(context, context.reference),
    ).mean()
    return {
        "pmt_charge_mean": float(per_pmt.mean()),
        "pmt_charge_worst": float(per_pmt.max()),
        "hit_multiplicity": float(multiplicity),
    }


# --- 4. classifier two-sample test ---------------------------------------------------------


def classifier_auc(context: ReferenceContext, candidate: EventSet) -> dict[str, float]:
    """Cross-validated ROC AUC of a boosted-tree classifier told candidate from reference
    (diffexp/verification/classifier.py); 0.5 means indistinguishable."""
    auc = classifier.classifier_auc(
        candidate,
        context.reference,
        context.pmt_positions,
        context.simulator,
        context.settings.classifier(),
        reference_inputs=context.classifier_inputs,
    )
    return {"classifier_auc": auc}


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
