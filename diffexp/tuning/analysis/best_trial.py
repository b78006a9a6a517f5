"""The best trial of a study as Hydra overrides: phase 2 trains exactly what phase 1 found.

The sweeper names every trial parameter by its Hydra override key ("optimizer.lr",
"model.hidden_dim", "schedule" for a group choice), so the overrides are the trial's params
rendered as Hydra values. A staged study (phase 1b, `fix_best_of`) also ran with values fixed
from an earlier study: the sweeper keeps each as a trial user attr (an override string) and
records in the study's `fixed_from` which keys those are; they are part of the trial's
configuration and come along. The other fixed overrides of a sweep (the profile, epochs) are
left out on purpose: they describe the phase-1 budget, which phase 2 replaces.

A multi-objective study has no single best trial. The rule (PARETO_RULE): among the
Pareto-optimal COMPLETE trials, the best in objective `objective` (default 0, the first
direction: validation loss for `tuning.objective=both`), ties broken by the other objectives in
their order, then by the lower trial number. `best_of_objective=<index>` picks another
objective; the provenance records the rule, the objective and the trial's values.

The study is data (docs/security.md): anyone who can write the storage writes its trials. A
parameter becomes an override only if its key is a plain config key outside `hydra.*`, paths,
the study binding and folder names (`security.untrusted_key_problem`), and its value is a
plain number or name (no path, `${...}` or Hydra grammar) that lies in the distribution the
trial records for it (type and range). Anything else is one StudyError line naming the trial
and the key, and nothing runs.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from diffexp.config import hydra_value
from diffexp.names import FIXED_FROM_ATTR
from diffexp.security import untrusted_key_problem, untrusted_value_problem
from diffexp.tuning.storage import PHASE1_COMMAND, StudyError, load_existing_study, shown_url

__all__ = ["PARETO_RULE", "StudyError", "best_trial_overrides", "pareto_choice", "trial_overrides"]

PARETO_RULE = "pareto_front_best_in_objective"


def best_trial_overrides(
    study_name: str, storage: str, objective: int | None = None
) -> tuple[dict[str, str], dict]:
    """Return the best COMPLETE trial's configuration as {override key: Hydra value} and its
    provenance (`trial_overrides`); a multi-objective study's trial is the PARETO_RULE's.

    Raises StudyError (one line) for an unreachable storage, an unknown study (listing the
    existing ones), a study without a complete trial, or an objective index the study does
    not have.
    """
    study = load_existing_study(study_name, storage)
    trial = _best_complete_trial(study, storage)
    index = None
    if len(study.directions) > 1:
        trial, index = pareto_choice(study, objective, storage)
    return _overrides_of(study, trial, storage, index)


def trial_overrides(
    study_name: str, storage: str, number: int, objective: int | None = None
) -> tuple[dict[str, str], dict]:
    """Trial `number` of the study as {override key: Hydra value}, and its provenance for
    `training_summary.json`: {"study_name", "storage", "trial_number", "value", "parameters"};
    "parameters" lists each key, its value and where it came from (searched in this study, or
    fixed from the study a staged search read). A multi-objective study adds "rule",
    "objective" and "values" (see PARETO_RULE), "value" being the chosen objective's."""
    study = load_existing_study(study_name, storage)
    trials = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if not trials:
        raise StudyError(f"study '{study_name}' in {shown_url(storage)} has no trial {number}")
    index = None if len(study.directions) == 1 else (0 if objective is None else int(objective))
    return _overrides_of(study, trials[0], storage, index)


def _overrides_of(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, storage: str, index: int | None
) -> tuple[dict[str, str], dict]:
    here = f"study {study.study_name} trial {trial.number}"
    for key, value in trial.params.items():
        _check_parameter(here, key, value, trial.distributions.get(key))
    parameters = [
        {"key": key, "value": hydra_value(value), "from": f"searched in {here}"}
        for key, value in trial.params.items()
    ]
    fixed_from = study.user_attrs.get(FIXED_FROM_ATTR) or {}
    origin = (
        f"fixed from study {fixed_from.get('study_name')} trial "
        f"{fixed_from.get('trial_number')} ({study.study_name} trial {trial.number})"
    )
    for key in fixed_from.get("overrides", {}):
        if key in trial.user_attrs and key not in trial.params:
            _check_parameter(here, key, trial.user_attrs[key])
            parameters.append({"key": key, "value": str(trial.user_attrs[key]), "from": origin})
    provenance = {
        "study_name": study.study_name,
        "storage": shown_url(storage),
        "trial_number": trial.number,
        "value": trial.value if index is None else trial.values[index],
        "parameters": parameters,
    }
    if index is not None:
        provenance |= {"rule": PARETO_RULE, "objective": index, "values": list(trial.values)}
    return {row["key"]: row["value"] for row in parameters}, provenance


def _check_parameter(
    here: str, key: Any, value: Any, distribution: BaseDistribution | None = None
) -> None:
    """Raise StudyError unless `key=value` of a stored trial may become an override (a value
    fixed from another study has no distribution here: the key and value rules still hold)."""
    problem = untrusted_key_problem(str(key)) or untrusted_value_problem(value)
    if problem is None and distribution is not None:
        problem = _outside(distribution, value)
    if problem is not None:
        raise StudyError(
            f"{here}: parameter {str(key)[:80]!r} = {str(value)[:80]!r} is refused ({problem}); "
            "nothing was run: only the study's own search parameters are taken from a study, "
            "and the study may hold trials someone else wrote"
        )


def _outside(distribution: BaseDistribution, value: Any) -> str | None:
    """Why `value` is not a value of `distribution` (type and range), or None."""
    if isinstance(distribution, CategoricalDistribution):
        inside = any(type(value) is type(c) and value == c for c in distribution.choices)
        return None if inside else "not one of the choices its distribution declares"
    if isinstance(distribution, IntDistribution):
        number = isinstance(value, int) and not isinstance(value, bool)
        inside = number and distribution.low <= value <= distribution.high
        return None if inside else f"not an integer in [{distribution.low}, {distribution.high}]"
    if isinstance(distribution, FloatDistribution):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        inside = number and math.isfinite(value) and distribution.low <= value <= distribution.high
        return None if inside else f"not a number in [{distribution.low}, {distribution.high}]"
    return f"an unknown distribution {type(distribution).__name__}"


def pareto_choice(
    study: optuna.Study, objective: int | None, storage: str = ""
) -> tuple[optuna.trial.FrozenTrial, int]:
    """PARETO_RULE: the Pareto-optimal trial best in `objective` (default 0), ties broken by
    the other objectives in order, then the lower trial number; returns (trial, objective)."""
    n = len(study.directions)
    index = 0 if objective is None else int(objective)
    if not 0 <= index < n:
        raise StudyError(
            f"best_of_objective={objective}: study '{study.study_name}' {shown_url(storage)} has "
            f"{n} objectives; give an index from 0 to {n - 1}"
        )
    signs = [1.0 if d == optuna.study.StudyDirection.MINIMIZE else -1.0 for d in study.directions]
    order = [index] + [i for i in range(n) if i != index]

    def key(trial: optuna.trial.FrozenTrial) -> tuple:
        return (*(signs[i] * trial.values[i] for i in order), trial.number)

    return min(study.best_trials, key=key), index


def _best_complete_trial(study: optuna.Study, storage: str) -> optuna.trial.FrozenTrial:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise StudyError(
            f"study '{study.study_name}' in {shown_url(storage)} has no COMPLETE trial yet "
            f"({len(study.trials)} trials in other states); run `{PHASE1_COMMAND}` to create one"
        )
    return study.best_trial if len(study.directions) == 1 else complete[0]
