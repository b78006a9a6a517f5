"""Hyperparameter importance from `optuna.importance`, refused when it would be noise.

fANOVA on a handful of trials returns confident-looking numbers that mean nothing; below
`MIN_COMPLETE_TRIALS` the analysis reports the reason instead of numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.importance import (
    BaseImportanceEvaluator,
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
)
from optuna.search_space import intersection_search_space
from optuna.trial import FrozenTrial, TrialState

from diffexp.errors import ConfigError, first_line

MIN_COMPLETE_TRIALS = 8  # below this, importance on a 2-5 parameter space is noise
EVALUATORS = ("fanova", "ped_anova")


@dataclass
class Importance:
    """Importances per target ({"target", "params"}), or None with the reason why not."""

    evaluator: str
    n_trials: int
    by_target: list[dict] | None
    reason: str | None = None
    refusal: str | None = None  # "too_few_trials" | "too_few_params" | "evaluator_failed"

    def to_dict(self) -> dict:
        return {
            "evaluator": self.evaluator,
            "n_trials": self.n_trials,
            "by_target": self.by_target,
            "reason": self.reason,
            "refusal": self.refusal,
        }


def make_evaluator(name: str) -> BaseImportanceEvaluator:
    """The evaluator by name; fANOVA is seeded so the report is reproducible."""
    if name == "fanova":
        return FanovaImportanceEvaluator(seed=0)
    if name == "ped_anova":
        return PedAnovaImportanceEvaluator()
    raise ConfigError(f"--importance {name}: unknown evaluator; choose one of {EVALUATORS}")


def objective_target(index: int) -> Callable[[FrozenTrial], float]:
    """Target for objective `index` of a multi-objective study (importance needs one number)."""
    return lambda trial: trial.values[index]


def compute_importance(study: optuna.Study, evaluator_name: str) -> Importance:
    """Importance of each searched parameter, per objective, with the trials it rests on."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    distributions = intersection_search_space(complete)
    usable = [t for t in complete if _finite(t.values) and distributions.keys() <= t.params.keys()]
    n_trials = len(usable)
    if n_trials < MIN_COMPLETE_TRIALS:
        reason = (
            f"only {n_trials} complete trials; importance needs at least {MIN_COMPLETE_TRIALS} "
            "to mean anything, run more trials first"
        )
        return Importance(evaluator_name, n_trials, None, reason, "too_few_trials")
    varied = [name for name, dist in distributions.items() if not dist.single()]
    if len(varied) < 2:
        reason = f"only {len(varied)} parameter(s) searched in every trial; nothing to compare"
        return Importance(evaluator_name, n_trials, None, reason, "too_few_params")
    by_target = []
    for label, target in _targets(study, evaluator_name):
        try:
            importances = optuna.importance.get_param_importances(
                study, evaluator=make_evaluator(evaluator_name), target=target
            )
        except (ValueError, RuntimeError) as exc:  # e.g. PED-ANOVA's minimum trials per regime
            reason = f"{evaluator_name} could not evaluate this study: {first_line(str(exc))}"
            return Importance(evaluator_name, n_trials, None, reason, "evaluator_failed")
        params = {name: float(value) for name, value in importances.items()}
        by_target.append({"target": label, "params": params})
    return Importance(evaluator_name, n_trials, by_target)


def _targets(
    study: optuna.Study, evaluator_name: str
) -> list[tuple[str, Callable[[FrozenTrial], float] | None]]:
    """What importance is computed for: the value, each objective, or (PED-ANOVA) the front."""
    names = objective_names(study)
    if len(names) == 1:
        return [(names[0], None)]
    if evaluator_name == "ped_anova":
        # PED-ANOVA ranks a multi-objective study by non-domination itself (as TPE does);
        # per-objective targets would all be treated as minimised.
        return [("pareto front", None)]
    return [(name, objective_target(index)) for index, name in enumerate(names)]


def objective_names(study: optuna.Study) -> list[str]:
    """The study's metric names when the sweeper set them, else "value" / "objective i"."""
    if study.metric_names is not None:
        return list(study.metric_names)
    if len(study.directions) == 1:
        return ["value"]
    return [f"objective {index}" for index in range(len(study.directions))]


def _finite(values: list[float] | None) -> bool:
    return values is not None and all(math.isfinite(v) for v in values)
