"""The classifier two-sample test: can a strong learner tell candidate events from simulated
ones for the same conditions? Its cross-validated ROC AUC is the headline of a verification
(0.5: indistinguishable; a physicist reads it first).

Inputs per event: the conditions, log charges of every PMT, high-level features, the
event's charge spectrum (hits per charge band, the single-PE region first), photoelectron
discreteness (hits on the 1- and 2-PE peaks and in the valleys, distance to the nearest
integer PE) and, where an expectation is known (the detector simulator, or a learned light
model: likelihood.Expectation), each PMT's pull against its expected charge, the event's
chi2 per PMT, pull spread (overall, 0.3-30 PE, bright PMTs) and its log-likelihood under the
readout law, so the learner starts from what a physicist would compute by hand and no
single one of these features separates better than the classifier.

The AUC is the mean over `repeats` classifier seeds (folds and learner), reported with
their spread, as CaloChallenge reports its classifier metric.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from diffexp.data import EventSet
from diffexp.verification.features import discreteness_features, high_level_features
from diffexp.verification.likelihood import (
    Expectation,
    expected_charges,
    log_likelihood_moments,
    log_likelihood_standardised,
    pmt_log_likelihood,
    pull_sigma,
)

# Upper edges (PE) of the charge bands counted per event; the first band, from the hit
# threshold to 0.7 PE, is the single-PE peak's low side, where a wrong no-hit model shows.
CHARGE_BAND_EDGES_PE: tuple[float, ...] = (0.7, 1.5, 3.0, 10.0, 50.0, np.inf)
# Expectation bands (PE) of the per-event pull spread: where the demo's model scattered too
# narrowly (0.3-30 PE) and the bright PMTs whose tails it made too wide.
PULL_SPREAD_BANDS_PE: dict[str, tuple[float, float]] = {
    "pull_spread_0.3_to_30pe": (0.3, 30.0),
    "pull_spread_above_30pe": (30.0, np.inf),
}


@dataclass(frozen=True)
class ClassifierSettings:
    """Knobs of the boosted-tree classifier (conf/verify.yaml `score.classifier_*`)."""

    folds: int = 3  # cross-validation folds
    iterations: int = 150  # boosting iterations
    learning_rate: float = 0.1  # shrinkage per iteration
    max_leaf_nodes: int = 15  # leaves per tree
    max_bins: int = 64  # histogram bins per input
    seed: int = 0  # folds and the learner of the first repeat (then seed + 1, ...)
    repeats: int = 5  # classifier seeds averaged into the AUC


def pulls(events: EventSet, expectation: Expectation) -> np.ndarray:
    """(charge - expected) / sigma per PMT, sigma^2 = mu (1 + spe_resolution^2) (Poisson
    photoelectrons smeared by the single-PE resolution)."""
    mean = expected_charges(expectation, events)
    sigma = pull_sigma(mean, expectation.physics["spe_resolution"])
    return (events.charges.astype(np.float64) - mean) / sigma


@lru_cache(maxsize=4)
def _moments(spe_resolution: float, threshold_pe: float) -> tuple[np.ndarray, ...]:
    return log_likelihood_moments(spe_resolution, threshold_pe)


def _masked_spread(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-row standard deviation of `values` where `mask`; 1 (a right spread) for a row
    without any."""
    count = mask.sum(axis=1)
    safe = np.maximum(count, 1)
    mean = np.where(mask, values, 0.0).sum(axis=1) / safe
    second = np.where(mask, (values - mean[:, None]) ** 2, 0.0).sum(axis=1) / safe
    return np.where(count > 1, np.sqrt(second), 1.0)


def expectation_features(events: EventSet, expectation: Expectation) -> dict[str, np.ndarray]:
    """Per-event features [N] against the expected charges: chi2, pulls, their spread, the
    charge and hits over expected, and the log-likelihood under the readout law."""
    charges = events.charges.astype(np.float64)
    mean = expected_charges(expectation, events)
    spe, threshold = expectation.physics["spe_resolution"], expectation.physics["threshold_pe"]
    pull = pulls(events, expectation)
    features = {
        "chi2_per_pmt": np.mean(pull**2, axis=1),
        "mean_pull": pull.mean(axis=1),
        "pull_spread": pull.std(axis=1),
    }
    for name, (low, high) in PULL_SPREAD_BANDS_PE.items():
        features[name] = _masked_spread(pull, (mean > low) & (mean <= high))
    features["charge_over_expected"] = charges.sum(axis=1) / mean.sum(axis=1)
    features["hits_minus_expected"] = (charges > 0).sum(axis=1) - (1 - np.exp(-mean)).sum(1)
    log_likelihood = pmt_log_likelihood(charges, mean, spe, threshold)
    features["log_likelihood_per_pmt"] = log_likelihood.mean(axis=1)
    features["log_likelihood_z"] = log_likelihood_standardised(
        log_likelihood, mean, _moments(float(spe), float(threshold))
    )
    low = mean <= 3.0  # where the photoelectron peaks are resolved
    features["log_likelihood_z_below_3pe"] = log_likelihood_standardised(
        np.where(low, log_likelihood, 0.0),
        np.where(low, mean, 0.0),
        _moments(float(spe), float(threshold)),
    )
    return features


def physics_features(events: EventSet, expectation: Expectation | None) -> dict[str, np.ndarray]:
    """Per-event features [N] a physicist checks first (name -> values)."""
    charges = events.charges.astype(np.float64)
    features: dict[str, np.ndarray] = {}
    lower = 0.0
    for upper in CHARGE_BAND_EDGES_PE:
        name = f"hits_{lower:g}_to_{upper:g}_pe"
        features[name] = ((charges > lower) & (charges <= upper)).sum(axis=1).astype(np.float64)
        lower = upper
    features.update(discreteness_features(events))
    if expectation is not None:
        features.update(expectation_features(events, expectation))
    return features


def classifier_inputs(
    events: EventSet, pmt_positions: np.ndarray | None, expectation: Expectation | None
) -> np.ndarray:
    """The classifier's inputs [N, F]: the event-level columns (conditions, high-level and
    physics features) first, then the per-PMT ones (log charges, pulls)."""
    high_level, _ = high_level_features(events, pmt_positions)
    columns = [
        events.conditions.astype(np.float64),
        high_level,
        np.stack(list(physics_features(events, expectation).values()), axis=1),
        np.log1p(events.charges.astype(np.float64)),
    ]
    if expectation is not None:
        columns.append(pulls(events, expectation))
    return np.concatenate(columns, axis=1)


def single_feature_aucs(
    candidate: EventSet, reference: EventSet, expectation: Expectation | None
) -> dict[str, float]:
    """AUC of each physics feature alone (no training; max(AUC, 1 - AUC)): what the
    classifier must at least match, and where to look when it separates."""
    labels = np.concatenate([np.ones(candidate.n_events), np.zeros(reference.n_events)])
    ours = physics_features(candidate, expectation)
    theirs = physics_features(reference, expectation)
    aucs = {}
    for name in ours:
        auc = roc_auc_score(labels, np.concatenate([ours[name], theirs[name]]))
        aucs[name] = float(max(auc, 1.0 - auc))
    return aucs


@dataclass(frozen=True)
class ClassifierResult:
    """The AUC of each classifier seed; the headline is their mean +- their spread."""

    aucs: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.aucs))

    @property
    def std(self) -> float:
        return float(np.std(self.aucs, ddof=1)) if len(self.aucs) > 1 else 0.0


def _out_of_fold_auc(
    inputs: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    settings: ClassifierSettings,
    n_event_columns: int,
) -> float:
    """AUC of the out-of-fold sum of two learners' logits: boosted trees on every input
    (what a single PMT or a non-linear pattern gives away) and a logistic regression on the
    standardised event-level columns. Measured on events whose scatter is 4% too narrow
    (1,500 per class), the trees alone reached 0.638 where the event log-likelihood alone
    gave 0.644; the regression 0.667, the sum 0.663: a shift of a few statistics is what a
    linear model finds with least noise."""
    trees = HistGradientBoostingClassifier(
        max_iter=settings.iterations,
        learning_rate=settings.learning_rate,
        max_leaf_nodes=settings.max_leaf_nodes,
        max_bins=settings.max_bins,
        early_stopping=False,
        random_state=settings.seed,
    )
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedGroupKFold(settings.folds, shuffle=True, random_state=settings.seed)
    splits = list(folds.split(inputs, labels, groups))
    # One AUC over all out-of-fold predictions: less noisy than the mean of per-fold AUCs.
    logit = cross_val_predict(trees, inputs, labels, cv=splits, method="decision_function")
    logit = logit + cross_val_predict(
        linear, inputs[:, :n_event_columns], labels, cv=splits, method="decision_function"
    )
    return float(roc_auc_score(labels, logit))


def classifier_result(
    candidate: EventSet,
    reference: EventSet,
    pmt_positions: np.ndarray | None = None,
    expectation: Expectation | None = None,
    settings: ClassifierSettings | None = None,
    reference_inputs: np.ndarray | None = None,
) -> ClassifierResult:
    """Cross-validated ROC AUC of a gradient-boosted classifier told `candidate` from
    `reference` (same PMTs and conditions names), once per classifier seed; 0.5 means
    indistinguishable.

    `expectation` (the detector simulator, or a learned light model) adds the features
    against the expected charges; `reference_inputs` are `classifier_inputs(reference, ...)`
    when already computed.
    """
    settings = settings or ClassifierSettings()
    if reference_inputs is None:
        reference_inputs = classifier_inputs(reference, pmt_positions, expectation)
    inputs = np.concatenate(
        [classifier_inputs(candidate, pmt_positions, expectation), reference_inputs]
    )
    labels = np.concatenate([np.ones(candidate.n_events), np.zeros(reference.n_events)])
    # Events generated for the reference's own conditions come in pairs: keeping a pair in
    # one fold stops the classifier from "learning" a condition in one class and meeting
    # its twin in the other, which would push the AUC below 0.5.
    paired = candidate.n_events == reference.n_events and np.array_equal(
        candidate.conditions, reference.conditions
    )
    n = candidate.n_events
    groups = np.concatenate([np.arange(n), np.arange(reference.n_events) + (0 if paired else n)])
    per_pmt_columns = candidate.n_pmt * (1 if expectation is None else 2)
    aucs = tuple(
        _out_of_fold_auc(
            inputs,
            labels,
            groups,
            replace(settings, seed=settings.seed + repeat),
            inputs.shape[1] - per_pmt_columns,
        )
        for repeat in range(max(settings.repeats, 1))
    )
    return ClassifierResult(aucs)


def classifier_auc(*args, **kwargs) -> float:
    """The mean AUC over classifier seeds of `classifier_result` (same arguments): the
    headline number alone."""
    return classifier_result(*args, **kwargs).mean


def null_auc_spread(n_candidate: int, n_reference: int) -> float:
    """Standard deviation of the AUC of two samples of the same distribution
    (Mann-Whitney): the noise below which an AUC excess means nothing."""
    return float(np.sqrt((n_candidate + n_reference + 1) / (12.0 * n_candidate * n_reference)))
