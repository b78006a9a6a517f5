"""The best trial of a study as Hydra overrides: phase 2 trains exactly what phase 1 found.

The sweeper names every trial parameter by its Hydra override key ("optimizer.lr",
"model.hidden_dim", "schedule" for a group choice), so the overrides are the trial's params
rendered as Hydra values. Fixed overrides of the sweep (stored by the sweeper as user attrs)
are left out on purpose: they describe the phase-1 budget, which phase 2 replaces.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from diffexp.config import hydra_value
from diffexp.tuning.storage import PHASE1_COMMAND, StudyError, load_existing_study

__all__ = ["StudyError", "best_trial_overrides"]


def best_trial_overrides(study_name: str, storage: str) -> tuple[dict[str, str], dict]:
    """Return the best COMPLETE trial's params as {override key: Hydra value} and provenance.

    Provenance is {"study_name", "storage", "trial_number", "value"} for `training_summary.json`.
    Raises StudyError (one line) for an unreachable storage, an unknown study (listing the
    existing ones) or a study without a complete trial.
    """
    study = load_existing_study(study_name, storage)
    trial = _best_complete_trial(study, storage)
    overrides = {key: hydra_value(value) for key, value in trial.params.items()}
    provenance = {
        "study_name": study.study_name,
        "storage": storage,
        "trial_number": trial.number,
        "value": trial.value,
    }
    return overrides, provenance


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
