"""Recommendations for the next search stage, each with the reason a person can check.

Rules (thresholds are module constants so the report can quote them):
- the best value sits within EDGE_FRACTION of a bound of its range (log space for log
  ranges; the extreme of an ordered numeric choice) -> widen that bound: x2 or /2 for log
  ranges and powers of two, half the range width for linear ones;
- a parameter with importance below LOW_IMPORTANCE -> fix it at its best value;
- too many trials pruned (> MAX_PRUNED_FRACTION) or none pruned among enough trials -> tune
  the pruner;
- too few complete trials for importance -> say so, no numbers;
- failed trials -> look at them before the next stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial

from diffexp.config import hydra_value
from diffexp.tuning.analysis.importance import Importance

EDGE_FRACTION = 0.10  # "near the edge": within 10 % of the range (log space for log ranges)
LOW_IMPORTANCE = 0.05  # below 5 % of the explained variance: not worth searching
MAX_PRUNED_FRACTION = 0.7  # above: the pruner stops trials before they can show anything
MIN_TRIALS_FOR_NO_PRUNING = 10  # with this many finished trials, some should have been pruned


@dataclass
class Edge:
    """Where a best value sits: which bound ("low"/"high") and the widened range."""

    side: str
    current_range: list[Any]
    new_range: list[Any]
    position: float  # 0 = lower bound, 1 = upper bound (log space for log ranges)


def recommend(
    best: FrozenTrial | None,
    top: list[FrozenTrial],
    importance: Importance,
    counts: dict[str, int],
    has_intermediate_values: bool,
    pruner: dict[str, Any] | None = None,
    fail_reasons: dict[str, int] | None = None,
) -> list[dict]:
    """All recommendations for a study; `best` is None for a multi-objective study.

    `pruner` is the pruner config the sweeper stored in the study (None: unknown);
    `fail_reasons` counts the failed trials by their recorded reason.
    """
    recommendations: list[dict] = []
    low = _low_importance_params(importance)
    if best is not None:
        recommendations += _edge_recommendations(best, top, skip=set(low))
        recommendations += _fix_recommendations(best, low, importance)
    recommendations += _importance_recommendations(importance)
    recommendations += _pruner_recommendations(counts, has_intermediate_values, pruner)
    recommendations += _failure_recommendations(counts, fail_reasons or {})
    return recommendations


def find_edge(value: Any, distribution: BaseDistribution) -> Edge | None:
    """The bound `value` sits near, with a widened range, or None when it is inside."""
    if isinstance(distribution, (FloatDistribution, IntDistribution)):
        return _numeric_edge(float(value), distribution)
    if isinstance(distribution, CategoricalDistribution):
        return _choice_edge(value, distribution)
    return None


def _numeric_edge(value: float, dist: FloatDistribution | IntDistribution) -> Edge | None:
    low, high = float(dist.low), float(dist.high)
    if high <= low:
        return None
    if dist.log:
        position = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    else:
        position = (value - low) / (high - low)
    is_int = isinstance(dist, IntDistribution)
    current = [_as_type(low, is_int), _as_type(high, is_int)]
    if position >= 1.0 - EDGE_FRACTION:
        new_high = high * 2 if dist.log else high + (high - low) / 2
        new_high = _on_grid(new_high, low, dist.step, up=True)
        return Edge("high", current, [current[0], _as_type(new_high, is_int)], position)
    if position <= EDGE_FRACTION:
        if dist.log:
            new_low = low / 2
        else:
            new_low = low - (high - low) / 2
            if low >= 0 > new_low:
                new_low = 0.0  # a non-negative range (dropout, weight decay) stays non-negative
            if new_low == low:
                return None
        new_low = _on_grid(new_low, high, dist.step, up=False)
        if is_int and dist.log:
            new_low = max(1.0, new_low)
        if new_low == low:
            return None
        return Edge("low", current, [_as_type(new_low, is_int), current[1]], position)
    return None


def _on_grid(bound: float, anchor: float, step: float | int | None, up: bool) -> float:
    """Round a new bound outward onto the distribution's step grid (anchored at the other end)."""
    if step is None:
        return bound
    n_steps = (bound - anchor) / step
    n_steps = math.ceil(n_steps - 1e-9) if up else math.floor(n_steps + 1e-9)
    return anchor + n_steps * step


def _as_type(value: float, is_int: bool) -> int | float:
    return int(round(value)) if is_int else float(value)


def _choice_edge(value: Any, dist: CategoricalDistribution) -> Edge | None:
    choices = dist.choices
    numeric = all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices)
    if not numeric or len(choices) < 2 or isinstance(value, bool):
        return None
    ordered = sorted(choices)
    powers_of_two = all(float(c).is_integer() and _is_power_of_two(int(c)) for c in ordered)
    if value == ordered[-1]:
        step = ordered[-1] - ordered[-2]
        new = ordered[-1] * 2 if powers_of_two else ordered[-1] + step
        return Edge("high", ordered, [*ordered, new], 1.0)
    if value == ordered[0]:
        step = ordered[1] - ordered[0]
        new = ordered[0] // 2 if powers_of_two else ordered[0] - step
        if (powers_of_two and ordered[0] <= 1) or (ordered[0] >= 0 > new):
            return None
        return Edge("low", ordered, [new, *ordered], 0.0)
    return None


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _edge_recommendations(best: FrozenTrial, top: list[FrozenTrial], skip: set[str]) -> list[dict]:
    recommendations = []
    for name, value in best.params.items():
        if name in skip:
            continue
        distribution = best.distributions[name]
        edge = find_edge(value, distribution)
        if edge is None:
            continue
        near = sum(
            1 for t in top if name in t.params and _same_side(t.params[name], distribution, edge)
        )
        direction = "upward" if edge.side == "high" else "downward"
        scale = "log scale" if getattr(distribution, "log", False) else "its range"
        recommendations.append(
            {
                "kind": "widen",
                "param": name,
                "direction": "up" if edge.side == "high" else "down",
                "best_value": value,
                "current_range": edge.current_range,
                "new_range": edge.new_range,
                # a sweep override on the -m command line replaces the search file's range
                "override": f"{name}={_search_space(distribution, edge)}",
                "action": f"widen {name} {direction}: search {edge.new_range} "
                f"instead of {edge.current_range} (add "
                f'"{name}={_search_space(distribution, edge)}" to the -m command line)',
                "reason": f"the best trial (#{best.number}) has {name}={_short(value)}, at "
                f"{edge.position:.0%} of {scale} (the {edge.side} edge); "
                f"{near} of the top {len(top)} trials sit there too",
            }
        )
    return recommendations


def _search_space(distribution: BaseDistribution, edge: Edge) -> str:
    """The widened range in the Hydra sweeper's search-space syntax."""
    if isinstance(distribution, CategoricalDistribution):
        return f"choice({', '.join(hydra_value(c) for c in edge.new_range)})"
    low, high = (hydra_value(v) for v in edge.new_range)
    space = f"interval({low}, {high})"
    if isinstance(distribution, IntDistribution):
        space = f"int({space})"
    return f"tag(log, {space})" if getattr(distribution, "log", False) else space


def _same_side(value: Any, distribution: BaseDistribution, edge: Edge) -> bool:
    other = find_edge(value, distribution)
    return other is not None and other.side == edge.side


def _low_importance_params(importance: Importance) -> list[str]:
    if not importance.by_target:
        return []
    # A parameter is unimportant only if it is unimportant for every target.
    names = importance.by_target[0]["params"].keys()
    return [
        name
        for name in names
        if all(entry["params"].get(name, 0.0) < LOW_IMPORTANCE for entry in importance.by_target)
    ]


def _fix_recommendations(best: FrozenTrial, low: list[str], importance: Importance) -> list[dict]:
    recommendations = []
    for name in low:
        if name not in best.params:
            continue
        value = best.params[name]
        share = max(entry["params"].get(name, 0.0) for entry in importance.by_target or [])
        override = f"{name}={hydra_value(value)}"
        recommendations.append(
            {
                "kind": "fix",
                "param": name,
                "value": value,
                "override": override,
                "action": f"fix {override} in the next stage (drop it from the search space)",
                "reason": f"importance {share:.3f} < {LOW_IMPORTANCE} ({importance.evaluator}, "
                f"{importance.n_trials} complete trials): it barely changes the objective",
            }
        )
    return recommendations


def _importance_recommendations(importance: Importance) -> list[dict]:
    if importance.refusal == "too_few_trials":
        action = "run more trials before trusting importance or fixing parameters"
    elif importance.refusal == "evaluator_failed":
        other = "fanova" if importance.evaluator == "ped_anova" else "ped_anova"
        action = f"read importance with the other evaluator (--importance {other})"
    else:
        return []
    return [{"kind": importance.refusal, "action": action, "reason": importance.reason}]


def _pruner_recommendations(
    counts: dict[str, int], has_intermediate_values: bool, pruner: dict[str, Any] | None
) -> list[dict]:
    pruned = counts.get("PRUNED", 0)
    finished = pruned + counts.get("COMPLETE", 0) + counts.get("FAIL", 0)
    if finished == 0:
        return []
    fraction = pruned / finished
    if fraction > MAX_PRUNED_FRACTION:
        reason = (
            f"{pruned} of {finished} finished trials were pruned ({fraction:.0%} > "
            f"{MAX_PRUNED_FRACTION:.0%}): too few trials run long enough to compare"
        )
        action = "make the pruner less aggressive: " + _gentler(pruner or {})
    elif pruned == 0 and finished >= MIN_TRIALS_FOR_NO_PRUNING:
        if not has_intermediate_values:
            action = "report the validation loss every epoch (trial.report) so trials can be pruned"
            reason = f"none of {finished} finished trials reported intermediate values"
        else:
            action = "make the pruner more aggressive: " + _harsher(pruner or {})
            reason = f"none of {finished} finished trials was pruned: bad trials ran to the end"
    else:
        return []
    return [
        {
            "kind": "pruner",
            "pruned_fraction": fraction,
            "pruner": pruner,
            "action": action,
            "reason": reason,
        }
    ]


_KEY = "hydra.sweeper.pruner"


def _gentler(pruner: dict[str, Any]) -> str:
    """Concrete overrides that let trials run longer before they can be pruned."""
    target = str(pruner.get("_target_", "")).rsplit(".", 1)[-1]
    if target in {"MedianPruner", "PercentilePruner"}:
        warmup = int(pruner.get("n_warmup_steps", 0))
        startup = int(pruner.get("n_startup_trials", 5))
        advice = (
            f"{_KEY}.n_warmup_steps={max(2, 2 * warmup)} (now {warmup}) or "
            f"{_KEY}.n_startup_trials={2 * startup} (now {startup})"
        )
        percentile = float(pruner.get("percentile", 50.0))  # the median keeps the best 50 %
        if percentile < 75.0:
            switch = "hydra/sweeper/pruner=percentile " if target == "MedianPruner" else ""
            advice += (
                f", or {switch}{_KEY}.percentile=75.0 (keeps trials in the best 75 %; "
                f"now {percentile:g} %)"
            )
        return advice
    if target in {"SuccessiveHalvingPruner", "HyperbandPruner"}:
        return f"raise {_KEY}.min_resource or lower {_KEY}.reduction_factor"
    return "raise the pruner's warm-up (n_warmup_steps) or pick hydra/sweeper/pruner=percentile"


def _harsher(pruner: dict[str, Any]) -> str:
    """Concrete overrides that let the pruner stop bad trials earlier."""
    target = str(pruner.get("_target_", "")).rsplit(".", 1)[-1]
    if not pruner or target == "NopPruner":
        return "no pruner is configured; enable one with hydra/sweeper/pruner=median"
    if target in {"MedianPruner", "PercentilePruner"}:
        warmup = int(pruner.get("n_warmup_steps", 0))
        startup = int(pruner.get("n_startup_trials", 5))
        return (
            f"{_KEY}.n_warmup_steps={warmup // 2} (now {warmup}) or "
            f"{_KEY}.n_startup_trials={max(1, startup // 2)} (now {startup})"
        )
    return f"lower {_KEY}.min_resource"


def _failure_recommendations(counts: dict[str, int], fail_reasons: dict[str, int]) -> list[dict]:
    failed = counts.get("FAIL", 0)
    if failed == 0:
        return []
    why = ", ".join(f"{reason} ({n})" for reason, n in fail_reasons.items())
    return [
        {
            "kind": "failures",
            "fail_reasons": fail_reasons,
            "action": "inspect the failed trials (their fail_reason user attr and run logs) "
            "before the next stage; a diverging lr range or an out-of-memory batch size "
            "shows up here",
            "reason": f"{failed} trial(s) failed" + (f": {why}" if why else ""),
        }
    ]
