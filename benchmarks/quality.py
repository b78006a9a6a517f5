"""Time to quality: what a user of a tuning tool asks, *how soon do I have a configuration
this good?*, computed from each peer's study storage.

A peer's timeline is the list of (seconds since its command started, value) of its completed
trials, in the order they completed; its best-so-far curve is the running minimum. The quality
bar of one seed is the best value any peer reached, plus `tolerance` of it (1% by default); a
peer's time to quality is the first moment its best-so-far is at or under the bar. The clock
starts when the peer's command starts, so interpreter start, imports and data count as they
do for a user.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

Timeline = list[tuple[float, float]]  # (seconds since start, value), by time

DEFAULT_TOLERANCE = 0.01


def completed_timeline(trials: Iterable, started: datetime) -> Timeline:
    """(seconds from `started` to each COMPLETE trial's completion, its value), by time.
    Pruned and failed trials carry no objective value, so they never improve the best."""
    from optuna.trial import TrialState

    points = [
        ((t.datetime_complete - started).total_seconds(), float(t.value))
        for t in trials
        if t.state == TrialState.COMPLETE and t.value is not None and t.datetime_complete
    ]
    return sorted(points)


def best_so_far(timeline: Sequence[tuple[float, float]]) -> Timeline:
    """The running minimum: one point per trial that improved the best value."""
    curve: Timeline = []
    for seconds, value in sorted(timeline):
        if math.isfinite(value) and (not curve or value < curve[-1][1]):
            curve.append((seconds, value))
    return curve


def quality_bar(best_values: Iterable[float | None], tolerance: float = DEFAULT_TOLERANCE) -> float:
    """The best (lowest) value any peer reached, plus `tolerance` of its magnitude."""
    finite = [v for v in best_values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan
    best = min(finite)
    return best + tolerance * abs(best)


def time_to_quality(timeline: Sequence[tuple[float, float]], bar: float) -> float | None:
    """Seconds until the best-so-far first reaches `bar`; None if it never does."""
    for seconds, value in best_so_far(timeline):
        if value <= bar:
            return seconds
    return None


def best_at(timeline: Sequence[tuple[float, float]], budget_seconds: float) -> float | None:
    """The best value completed within `budget_seconds`; None if none completed by then."""
    values = [value for seconds, value in timeline if seconds <= budget_seconds]
    return min(values) if values else None


def idle_share(spans: Sequence[tuple[float, float]], slots: int) -> float:
    """Share of `slots` x (first start to last end) during which no trial ran in a slot."""
    if not spans or slots < 1:
        return 0.0
    busy = sum(end - start for start, end in spans)
    span = max(end for _, end in spans) - min(start for start, _ in spans)
    if span <= 0:
        return 0.0
    return min(1.0, max(0.0, 1.0 - busy / (slots * span)))


def speedup_vs_best_peer(times: Mapping[str, float | None], ours: str) -> float:
    """How many times sooner `ours` reached the bar than the fastest other peer: inf when no
    other peer reached it, 0 when `ours` did not (a peer that never reached it counts as
    infinitely slow)."""
    mine = times.get(ours)
    others = [t for name, t in times.items() if name != ours and t is not None]
    if mine is None:
        return 0.0
    if not others:
        return math.inf
    return min(others) / mine if mine > 0 else math.inf


def compare_peers(
    runs: Mapping[str, Mapping], ours: str, tolerance: float = DEFAULT_TOLERANCE
) -> dict:
    """The quality figures of one seed from each peer's `timeline` and `wall_seconds`: the
    bar, each peer's time to it, each peer's best within the budget every peer had (the
    shortest peer's wall time), and how many times sooner `ours` got there than the best
    other peer."""
    best_values = (min((v for _, v in r["timeline"]), default=None) for r in runs.values())
    bar = quality_bar(best_values, tolerance)
    budget = min(float(r["wall_seconds"]) for r in runs.values())
    times = {name: time_to_quality(r["timeline"], bar) for name, r in runs.items()}
    return {
        "bar": bar,
        "tolerance": tolerance,
        "budget_seconds": budget,
        "time_to_quality_seconds": times,
        "best_at_budget": {name: best_at(r["timeline"], budget) for name, r in runs.items()},
        "speedup_vs_best_peer": speedup_vs_best_peer(times, ours),
    }
