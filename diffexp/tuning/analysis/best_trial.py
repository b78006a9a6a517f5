"""The best trial of a study as Hydra overrides: phase 2 trains exactly what phase 1 found.

The sweeper names every trial parameter by its Hydra override key ("optimizer.lr",
"model.hidden_dim", "schedule" for a group choice), so the overrides are the trial's params
rendered as Hydra values. A staged study (phase 1b, `fix_best_of`) also ran with values fixed
from an earlier study: the sweeper keeps each as a trial user attr (an override string) and
records in the study's `fixed_from` which keys those are; they are part of the trial's
configuration and come along. The other fixed overrides of a sweep (the profile, epochs) are
left out on purpose: they describe the phase-1 budget, which phase 2 replaces.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from diffexp.config import hydra_value
from diffexp.names import FIXED_FROM_ATTR
from diffexp.tuning.storage import PHASE1_COMMAND, StudyError, load_existing_study

__all__ = ["StudyError", "best_trial_overrides", "trial_overrides"]


def best_trial_overrides(study_name: str, storage: str) -> tuple[dict[str, str], dict]:
    """Return the best COMPLETE trial's configuration as {override key: Hydra value} and its
    provenance (`trial_overrides`).

    Raises StudyError (one line) for an unreachable storage, an unknown study (listing the
    existing ones) or a study without a complete trial.
    """
    study = load_existing_study(study_name, storage)
    return _overrides_of(study, _best_complete_trial(study, storage), storage)


def trial_overrides(study_name: str, storage: str, number: int) -> tuple[dict[str, str], dict]:
    """Trial `number` of the study as {override key: Hydra value}, and its provenance
    {"study_name", "storage", "trial_number", "value", "values"} for `training_summary.json`;
    "values" lists each key, its value and where it came from (searched in this study, or
    fixed from the study a staged search read)."""
    study = load_existing_study(study_name, storage)
    trials = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if not trials:
        raise StudyError(f"study '{study_name}' in {storage} has no trial {number}")
    return _overrides_of(study, trials[0], storage)


def _overrides_of(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, storage: str
) -> tuple[dict[str, str], dict]:
    here = f"study {study.study_name} trial {trial.number}"
    values = [
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
            values.append({"key": key, "value": str(trial.user_attrs[key]), "from": origin})
    provenance = {
        "study_name": study.study_name,
        "storage": storage,
        "trial_number": trial.number,
        "value": trial.value,
        "values": values,
    }
    return {row["key"]: row["value"] for row in values}, provenance


def _best_complete_trial(study: optuna.Study, storage: str) -> optuna.trial.FrozenTrial:
    if len(study.directions) > 1:
        raise StudyError(
            f"study '{study.study_name}' in {storage} is multi-objective and has no single best "
            "trial; pick one from `python -m diffexp.analyze` and pass its parameters as overrides"
        )
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise StudyError(
            f"study '{study.study_name}' in {storage} has no COMPLETE trial yet "
            f"({len(study.trials)} trials in other states); run `{PHASE1_COMMAND}` to create one"
        )
    return study.best_trial
