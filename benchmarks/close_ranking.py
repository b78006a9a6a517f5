"""A checkpoint-ranking test that can fail: order checkpoints whose true losses differ by less
than the naive validator's own noise.

The Spearman ranking of checkpoints saved along a run passed for the naive loop too: those
checkpoints differ by more than any estimator's noise, so every estimator ranks them alike.
Here the checkpoints are made close on purpose: weights on the straight line between two
checkpoints a few optimizer steps apart, so their reference losses (every validation sample,
several fixed draws each) differ by small, graded amounts. The naive loop's noise is measured
(the spread of repeated calls on one checkpoint), and only the pairs whose reference losses
differ by less than that noise are scored: the share of them an estimator orders as the
reference does. A validator that re-draws noise on every call is near a coin toss there; one
with a fixed draw sees the same samples, times and noise for every checkpoint, so the noise
cancels in the difference and only the checkpoints' real difference remains.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np


def interpolated_weights(
    start: Sequence[np.ndarray], end: Sequence[np.ndarray], n: int
) -> list[list[np.ndarray]]:
    """`n` weight sets evenly spaced on the line from `start` to `end` (both included)."""
    return [
        [a + alpha * (b - a) for a, b in zip(start, end, strict=True)]
        for alpha in np.linspace(0.0, 1.0, n)
    ]


def close_pairs(reference: Sequence[float], noise: float) -> list[tuple[int, int]]:
    """Index pairs whose reference losses differ by more than 0 and less than `noise`."""
    return [
        (i, j)
        for i, j in itertools.combinations(range(len(reference)), 2)
        if 0 < abs(reference[i] - reference[j]) < noise
    ]


def concordance(
    values: Sequence[float], reference: Sequence[float], pairs: Sequence[tuple[int, int]]
) -> float | None:
    """Share of `pairs` that `values` order as `reference` does (a tie counts half); None
    without pairs."""
    if not pairs:
        return None
    score = 0.0
    for i, j in pairs:
        agree = np.sign(values[i] - values[j]) * np.sign(reference[i] - reference[j])
        score += 1.0 if agree > 0 else 0.5 if agree == 0 else 0.0
    return score / len(pairs)


def measure(
    model,
    weight_sets: Sequence[Sequence[np.ndarray]],
    estimators: dict[str, Callable[[], float]],
    reference: Callable[[], float],
) -> dict[str, list[float]]:
    """Every estimator's value and the reference loss at each weight set, in order; the
    model's own weights are put back afterwards."""
    saved = model.get_weights()
    values: dict[str, list[float]] = {name: [] for name in [*estimators, "reference"]}
    try:
        for weights in weight_sets:
            model.set_weights(list(weights))
            values["reference"].append(reference())
            for name, estimate in estimators.items():
                values[name].append(estimate())
    finally:
        model.set_weights(saved)
    return values


def noise_of(estimate: Callable[[], float], repeats: int) -> float:
    """Standard deviation of repeated calls on the same weights (0 for a fixed draw)."""
    return float(np.std([estimate() for _ in range(repeats)], ddof=1))
