"""The physics score: a calibrated function of the classifier AUC, with every other
physics distance beside it as a diagnostic of *what* differs.

For every metric, the noise floor is the distance of a second, independent simulated
sample (same conditions) from the reference, and the "bad" reference is the distance of a
sample at the edge of a physicist's tolerance: conditions off by the fixed reconstruction's
resolution and an energy-scale error of a few per cent (known_generators.tolerance_edge).
Between the two the scale is logarithmic,

    metric score = clip(1 - ln(raw / floor) / ln(bad / floor), 0, 1)

so the floor scores 1, the tolerance edge 0, and a distance ten times the floor can never
score 0.99. The classifier's distance is its AUC - 0.5 (the mean over classifier seeds);
its floor is the AUC's analytic noise for these sample sizes (`floor_noise_sigmas` x the
Mann-Whitney spread of two identical samples), not the measured floor sample's AUC, whose
own luck would move every score: the measured floor is reported beside the headline.

The score is the classifier's metric score times the memorisation score (1 - the fraction
of events that are copies of training events): the classifier is the strongest test we
have (it is fed the other components' features) so the score ranks generators as it does;
the other components (calorimetry, closure, per-PMT distributions, Fréchet) are scored on
the same scale and reported, not averaged in: averaging weak tests into a strong one only
dilutes it (docs/physics.md, the calibration panel).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from diffexp.data import EventSet
from diffexp.verification import metrics
from diffexp.verification.classifier import ClassifierResult, null_auc_spread, single_feature_aucs
from diffexp.verification.features import energy_column
from diffexp.verification.known_generators import shuffled_conditions, tolerance_edge
from diffexp.verification.likelihood import Expectation
from diffexp.verification.memorisation import TrainingIndex, copied_fraction
from diffexp.verification.metrics import MetricSettings, ReferenceContext
from diffexp.verification.reconstruction import Reconstruction

PHYSICS_COMPONENTS: tuple[str, ...] = (
    "calorimetry",
    "closure",
    "pmt_distributions",
    "classifier",
    "frechet",
)
# Scored and reported to say what differs; the score itself is the classifier's.
DIAGNOSTIC_COMPONENTS: tuple[str, ...] = tuple(c for c in PHYSICS_COMPONENTS if c != "classifier")
COMPONENTS: tuple[str, ...] = (*PHYSICS_COMPONENTS, "memorisation")

_DISTANCES: dict[str, Callable[[ReferenceContext, EventSet], dict[str, float]]] = {
    "calorimetry": metrics.calorimetry,
    "closure": metrics.closure,
    "pmt_distributions": metrics.pmt_distributions,
    "classifier": metrics.classifier_auc,
    "frechet": metrics.frechet,
}
# The scale's zero lies at least this factor above the floor: a metric too noisy to resolve
# the tolerance edge at this sample size still fails a distance twice its noise floor.
MIN_BAD_OVER_FLOOR = 2.0
# Where a metric's distance starts: an AUC of 0.5 is no distance at all.
_ORIGIN = {"classifier_auc": 0.5}

__all__ = [
    "COMPONENTS",
    "DIAGNOSTIC_COMPONENTS",
    "PHYSICS_COMPONENTS",
    "Calibration",
    "ScoreReport",
    "calibrate",
    "normalised",
    "physics_score",
    "shuffled_conditions",
]


@dataclass
class MetricScore:
    """One raw distance beside the floor and bad reference that give it its scale."""

    raw: float
    floor: float  # the independent simulated sample's distance
    floor_noise: float  # its statistical spread (bootstrap; the AUC's null spread)
    bad: float
    score: float


@dataclass
class ComponentScore:
    score: float | None
    metrics: dict[str, MetricScore] = field(default_factory=dict)
    skipped: str | None = None  # why the component did not run


@dataclass
class ScoreReport:
    score: float  # the classifier's metric score x memorisation
    classifier_auc: float | None  # the headline: a physicist reads it first (seed mean)
    components: dict[str, ComponentScore]
    sample_sizes: dict[str, int]
    single_feature_aucs: dict[str, float] = field(default_factory=dict)
    classifier_auc_std: float | None = None  # spread over the classifier's seeds
    classifier_aucs: list[float] = field(default_factory=list)  # one per classifier seed
    classifier_floor_auc: float | None = None  # a second simulation against the reference

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def component_scores(self) -> dict[str, float | None]:
        return {name: component.score for name, component in self.components.items()}

    def headline(self) -> str:
        """`physics score 0.62 (classifier AUC 0.81 ± 0.01, floor 0.50)`."""
        if self.classifier_auc is None:
            return f"physics score {self.score:.2f} (classifier AUC n/a)"
        return (
            f"physics score {self.score:.2f} (classifier AUC {self.classifier_auc:.2f} "
            f"± {self.classifier_auc_std:.2f}, floor {self.classifier_floor_auc:.2f})"
        )


def normalised(
    raw: float, floor: float, bad: float, origin: float = 0.0, floor_margin: float = 0.0
) -> float:
    """1 at (or below) the noise floor, 0 at the bad reference, log-linear in between.

    Distances count from `origin`; the floor is the measured floor plus `floor_margin`
    (a multiple of its statistical noise), so a fresh sample is not penalised for the
    luck of the floor sample. A metric that cannot resolve the bad reference at this
    sample size (bad within the floor's noise) still scores 0 at MIN_BAD_OVER_FLOOR x floor.
    """
    distance = raw - origin
    floor_distance = max(max(floor - origin, 0.0) + floor_margin, 1e-12)
    bad_distance = max(bad - origin, MIN_BAD_OVER_FLOOR * floor_distance)
    if distance <= floor_distance:
        return 1.0
    scale = np.log(bad_distance / floor_distance)
    return float(np.clip(1.0 - np.log(distance / floor_distance) / scale, 0.0, 1.0))


def _skip_reasons(
    reference: EventSet, reconstruction: Reconstruction | None, training: EventSet | None
) -> dict[str, str]:
    reasons = {}
    if energy_column(reference) is None:
        reasons["calorimetry"] = (
            f"skipped: needs an energy condition, the data have {list(reference.condition_names)}"
        )
    if reconstruction is None:
        reasons["closure"] = (
            "skipped: needs the detector simulator to train the fixed reconstruction "
            "(data.source=simulated)"
        )
    if training is None:
        reasons["memorisation"] = "skipped: needs the run's training events"
    return reasons


def _check_compatible(name: str, events: EventSet, reference: EventSet) -> None:
    if events.condition_names != reference.condition_names or not np.array_equal(
        events.pmt_ids, reference.pmt_ids
    ):
        raise ValueError(
            f"{name} events have other PMTs or conditions than the reference "
            f"({events.n_pmt} vs {reference.n_pmt} PMTs, {events.condition_names} vs "
            f"{reference.condition_names})"
        )


def condition_errors(
    reference: EventSet,
    pmt_positions: np.ndarray | None,
    reconstruction: Reconstruction | None,
    settings: MetricSettings,
) -> np.ndarray:
    """The per-condition errors of the tolerance edge: the fixed reconstruction's resolution
    on the reference (energy relative) x `tolerance_resolution`; without a reconstruction,
    `tolerance_condition_spread` x each condition's spread (energy relative to its mean)."""
    conditions = reference.conditions.astype(np.float64)
    energy = energy_column(reference)
    if reconstruction is not None:
        residual = reconstruction.predict(reference, pmt_positions) - conditions
        if energy is not None:
            residual[:, energy] /= np.maximum(conditions[:, energy], 1e-9)
        return settings.tolerance_resolution * residual.std(axis=0)
    spread = conditions.std(axis=0)
    if energy is not None:
        spread[energy] /= max(abs(conditions[:, energy].mean()), 1e-9)
    return settings.tolerance_condition_spread * spread


@dataclass
class Calibration:
    """The reference context with the floor and bad-reference distances of every metric,
    computed once; `score` then places any number of candidates on that scale."""

    context: ReferenceContext
    skipped: dict[str, str]
    floor: dict[str, dict[str, float]]
    floor_noise: dict[str, dict[str, float]]
    bad: dict[str, dict[str, float]]
    floor_size: int
    training: TrainingIndex | None = None
    condition_errors: np.ndarray | None = None  # of the bad reference, per condition

    def _metric(self, component: str, name: str, raw: float, n_generated: int) -> MetricScore:
        floor, bad = self.floor[component][name], self.bad[component][name]
        scale_floor = floor
        if name == "classifier_auc":  # the AUC's spread for these sample sizes
            noise = null_auc_spread(n_generated, self.context.reference.n_events)
            scale_floor = _ORIGIN[name]  # the analytic floor: 0.5 + the margin below
        else:
            noise = self.floor_noise[component][name]
        margin = self.context.settings.floor_noise_sigmas * noise
        score = normalised(raw, scale_floor, bad, _ORIGIN.get(name, 0.0), margin)
        return MetricScore(raw, floor, noise, bad, score)

    def _classifier(self, generated: EventSet) -> tuple[ComponentScore, ClassifierResult]:
        result = metrics.classifier_result(self.context, generated)
        metric = self._metric("classifier", "classifier_auc", result.mean, generated.n_events)
        return ComponentScore(metric.score, {"classifier_auc": metric}), result

    def _component(self, component: str, generated: EventSet) -> ComponentScore:
        if component == "memorisation":
            raw = copied_fraction(self.training, generated)["copied_fraction"]
            floor = self.floor[component]["copied_fraction"]
            score = float(np.clip(1.0 - raw, 0.0, 1.0))
            metric = MetricScore(raw, floor, 0.0, 1.0, score)
            return ComponentScore(score, {"copied_fraction": metric})
        raw = _DISTANCES[component](self.context, generated)
        scored = {
            name: self._metric(component, name, raw[name], generated.n_events) for name in raw
        }
        return ComponentScore(float(np.mean([m.score for m in scored.values()])), scored)

    def score(self, generated: EventSet) -> ScoreReport:
        """The physics score of `generated` (same PMTs and condition names as the reference)."""
        _check_compatible("generated", generated, self.context.reference)
        components: dict[str, ComponentScore] = {}
        for component in COMPONENTS:
            if component in self.skipped:
                components[component] = ComponentScore(score=None, skipped=self.skipped[component])
            elif component == "classifier":
                components[component], result = self._classifier(generated)
            else:
                components[component] = self._component(component, generated)
        score = components["classifier"].score
        if components["memorisation"].score is not None:
            score *= components["memorisation"].score
        return ScoreReport(
            score=score,
            classifier_auc=result.mean,
            classifier_auc_std=result.std,
            classifier_aucs=list(result.aucs),
            classifier_floor_auc=self.floor["classifier"]["classifier_auc"],
            components=components,
            sample_sizes={
                "generated": generated.n_events,
                "reference": self.context.reference.n_events,
                "floor": self.floor_size,
                "bad_reference": self.floor_size,
                "training": 0 if self.training is None else self.training.n_training,
            },
            single_feature_aucs=single_feature_aucs(
                generated, self.context.reference, self.context.simulator
            ),
        )


def _bootstrap_noise(
    context: ReferenceContext, floor: EventSet, components: list[str]
) -> dict[str, dict[str, float]]:
    """Standard deviation of each metric over resamples of the floor sample: how far a
    fresh sample's distance strays from the floor by chance (the classifier's is analytic)."""
    settings = context.settings
    rng = np.random.default_rng(settings.seed + 2)
    draws: dict[str, dict[str, list[float]]] = {c: {} for c in components}
    for _ in range(settings.floor_bootstraps):
        resample = floor.subset(rng.integers(0, floor.n_events, floor.n_events))
        for component in components:
            for name, value in _DISTANCES[component](context, resample).items():
                draws[component].setdefault(name, []).append(value)
    return {
        component: {name: float(np.std(values)) for name, values in values_of.items()}
        for component, values_of in draws.items()
    }


def calibrate(
    reference: EventSet,
    floor: EventSet,
    pmt_positions: np.ndarray | None = None,
    reconstruction: Reconstruction | None = None,
    settings: MetricSettings | None = None,
    simulator: Expectation | None = None,
    training: EventSet | None = None,
) -> Calibration:
    """Distances of the noise floor (`floor`, an independent sample of the same physics,
    ideally for the same conditions) and of the bad reference (`floor` moved to the edge
    of a physicist's tolerance) from `reference`, for every metric that can run.

    `pmt_positions` ([n_pmt, 3] of the charge columns) enable the position features;
    `reconstruction` enables closure and sets the tolerance on the conditions; `simulator`
    adds pulls against the expected charges to the classifier and simulates the bad
    reference; `training` (the run's training events) enables memorisation. Components
    that cannot run are reported as skipped.
    """
    settings = settings or MetricSettings()
    _check_compatible("floor", floor, reference)
    context = metrics.build_context(reference, pmt_positions, settings, reconstruction, simulator)
    errors = condition_errors(reference, pmt_positions, reconstruction, settings)
    # A learned light model has an expectation but draws no events: the bad reference
    # then moves the floor sample's labels instead (tolerance_edge).
    can_simulate = simulator if hasattr(simulator, "simulate") else None
    bad = tolerance_edge(
        floor, errors, settings.tolerance_energy_scale, settings.seed + 1, can_simulate
    )
    skipped = _skip_reasons(reference, reconstruction, training)
    ran = [c for c in PHYSICS_COMPONENTS if c not in skipped]
    floor_distances = {c: _DISTANCES[c](context, floor) for c in ran}
    floor_noise = _bootstrap_noise(context, floor, [c for c in ran if c != "classifier"])
    index = None
    if training is not None:
        _check_compatible("training", training, reference)
        index = TrainingIndex.build(training, reference)
        floor_distances["memorisation"] = copied_fraction(index, floor)
    return Calibration(
        context=context,
        skipped=skipped,
        floor=floor_distances,
        floor_noise=floor_noise,
        bad={c: _DISTANCES[c](context, bad) for c in ran},
        floor_size=floor.n_events,
        training=index,
        condition_errors=errors,
    )


def physics_score(
    generated: EventSet,
    reference: EventSet,
    floor: EventSet,
    pmt_positions: np.ndarray | None = None,
    reconstruction: Reconstruction | None = None,
    settings: MetricSettings | None = None,
    simulator: Expectation | None = None,
    training: EventSet | None = None,
) -> ScoreReport:
    """Score `generated` against `reference`, calibrated by `floor` (see `calibrate`)."""
    calibration = calibrate(
        reference, floor, pmt_positions, reconstruction, settings, simulator, training
    )
    return calibration.score(generated)
