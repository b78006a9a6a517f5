"""The physics score: each raw distance is placed on a scale that means something.

For every metric, the noise floor is the distance of a second, independent simulated
sample (same conditions) from the reference, and the known-bad reference is the distance
of that sample with its conditions shuffled (right marginal charges, wrong physics).

    metric score = clip((bad - raw) / (bad - floor), 0, 1)

so statistical noise scores 1 and "charges unrelated to the conditions" scores 0. A
component's score is the mean of its metrics' scores and the physics score is the mean of
the components that ran (equal weights: no component is a priori more important).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from diffexp.data import EventSet
from diffexp.verification import metrics
from diffexp.verification.features import energy_column
from diffexp.verification.metrics import MetricSettings, ReferenceContext
from diffexp.verification.reconstruction import Reconstruction

COMPONENTS: tuple[str, ...] = (
    "calorimetry",
    "closure",
    "pmt_distributions",
    "classifier",
    "frechet",
)

_DISTANCES: dict[str, Callable[[ReferenceContext, EventSet], dict[str, float]]] = {
    "calorimetry": metrics.calorimetry,
    "closure": metrics.closure,
    "pmt_distributions": metrics.pmt_distributions,
    "classifier": metrics.classifier_auc,
    "frechet": metrics.frechet,
}


@dataclass
class MetricScore:
    """One raw distance beside the floor and bad reference that give it its scale."""

    raw: float
    floor: float
    bad: float
    score: float | None  # None: floor and bad coincide, the metric cannot tell them apart


@dataclass
class ComponentScore:
    score: float | None
    metrics: dict[str, MetricScore] = field(default_factory=dict)
    skipped: str | None = None  # why the component did not run


@dataclass
class ScoreReport:
    score: float
    components: dict[str, ComponentScore]
    sample_sizes: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def component_scores(self) -> dict[str, float | None]:
        return {name: component.score for name, component in self.components.items()}


def normalised(raw: float, floor: float, bad: float) -> float | None:
    """1 at the noise floor, 0 at the known-bad reference, clipped to [0, 1]."""
    if not bad > floor:
        return None
    return float(np.clip((bad - raw) / (bad - floor), 0.0, 1.0))


def shuffled_conditions(events: EventSet, seed: int) -> EventSet:
    """The same charges paired with another event's conditions: the known-bad reference."""
    order = np.random.default_rng(seed).permutation(events.n_events)
    return EventSet(
        events.charges, events.conditions[order], events.condition_names, events.pmt_ids
    )


def _skip_reasons(reference: EventSet, reconstruction: Reconstruction | None) -> dict[str, str]:
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


@dataclass
class Calibration:
    """The reference context with the floor and known-bad distances of every metric,
    computed once; `score` then places any number of candidates on that scale."""

    context: ReferenceContext
    skipped: dict[str, str]
    floor: dict[str, dict[str, float]]
    bad: dict[str, dict[str, float]]
    floor_size: int

    def score(self, generated: EventSet) -> ScoreReport:
        """The physics score of `generated` (same PMTs and condition names as the reference)."""
        _check_compatible("generated", generated, self.context.reference)
        components: dict[str, ComponentScore] = {}
        for component in COMPONENTS:
            if component in self.skipped:
                components[component] = ComponentScore(score=None, skipped=self.skipped[component])
                continue
            raw = _DISTANCES[component](self.context, generated)
            floor, bad = self.floor[component], self.bad[component]
            scored = {
                name: MetricScore(
                    raw[name], floor[name], bad[name], normalised(raw[name], floor[name], bad[name])
                )
                for name in raw
            }
            values = [m.score for m in scored.values() if m.score is not None]
            components[component] = ComponentScore(
                score=float(np.mean(values)) if values else None, metrics=scored
            )
        ran = [c.score for c in components.values() if c.score is not None]
        return ScoreReport(
            score=float(np.mean(ran)) if ran else 0.0,
            components=components,
            sample_sizes={
                "generated": generated.n_events,
                "reference": self.context.reference.n_events,
                "floor": self.floor_size,
                "bad_reference": self.floor_size,
            },
        )


def calibrate(
    reference: EventSet,
    floor: EventSet,
    pmt_positions: np.ndarray | None = None,
    reconstruction: Reconstruction | None = None,
    settings: MetricSettings | None = None,
) -> Calibration:
    """Distances of the noise floor (`floor`, an independent sample of the same physics,
    ideally for the same conditions) and of the known-bad reference (`floor` with its
    conditions shuffled) from `reference`, for every metric that can run.

    `pmt_positions` ([n_pmt, 3] of the charge columns) enable the position features;
    `reconstruction` enables closure. Components that cannot run are reported as skipped.
    """
    settings = settings or MetricSettings()
    _check_compatible("floor", floor, reference)
    context = metrics.build_context(reference, pmt_positions, settings, reconstruction)
    bad = shuffled_conditions(floor, settings.seed + 1)
    skipped = _skip_reasons(reference, reconstruction)
    ran = [c for c in COMPONENTS if c not in skipped]
    return Calibration(
        context=context,
        skipped=skipped,
        floor={c: _DISTANCES[c](context, floor) for c in ran},
        bad={c: _DISTANCES[c](context, bad) for c in ran},
        floor_size=floor.n_events,
    )


def physics_score(
    generated: EventSet,
    reference: EventSet,
    floor: EventSet,
    pmt_positions: np.ndarray | None = None,
    reconstruction: Reconstruction | None = None,
    settings: MetricSettings | None = None,
) -> ScoreReport:
    """Score `generated` against `reference`, calibrated by `floor` (see `calibrate`)."""
    calibration = calibrate(reference, floor, pmt_positions, reconstruction, settings)
    return calibration.score(generated)
