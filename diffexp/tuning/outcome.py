"""How a trial ended, as one value, and `trial.json`, the record of it in the trial's job folder.

Whoever ends a trial (its job, the sweeper finishing for a job that died, liveness failing a
silent one) builds a `TrialOutcome` and hands it to `StudyGateway.record_outcome`
(`diffexp.tuning.study`), the one function that writes a trial's end: the study state, the
`fail_reason`, and `trial.json`.

One source for each fact in `trial.json`: `params` are the searched values as the study holds
them; `hyperparameters` are the job's other overrides (fixed values, `tuning.*`), read from the
`.hydra/overrides.yaml` Hydra wrote in the job folder, so a searched value is not written twice.
Standard library only (and the ground floor): a plain run's import of the trial side stays
free of Optuna.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from diffexp.config import override_key
from diffexp.io_utils import atomic_write_json
from diffexp.names import RUN_CONFIG_FILE, TRIAL_FILE, TUNING_STUDY_NAME, TUNING_TRIAL_NUMBER

State = Literal["COMPLETE", "PRUNED", "FAIL"]
OVERRIDES_FILE = RUN_CONFIG_FILE.parent / "overrides.yaml"  # what Hydra wrote for the job


@dataclass(frozen=True)
class TrialOutcome:
    """How one trial ended. `values`: one per direction (COMPLETE only); `results`: what the
    job measured (None: only the best reported value, for a trial whose job died);
    `reported`: values this process reported that the study may not hold (a multi-objective
    trial reports none); `run_dir`: the job folder (None: the one its job recorded, if any)."""

    state: State
    values: list[float] | None = None
    fail_reason: str | None = None
    results: dict[str, Any] | None = None
    reported: Mapping[int, float] = field(default_factory=dict)
    pruned_at_epoch: int | None = None
    run_dir: Path | None = None


def trial_record(
    outcome: TrialOutcome,
    *,
    trial_number: int,
    study_name: str,
    params: Mapping[str, Any],
    stored: Mapping[int, float],
    overrides: list[str],
) -> dict[str, Any]:
    """The content of trial.json. `stored`: the intermediate values the study holds (also
    those a requeued job's earlier run reported); `overrides`: the job's Hydra overrides."""
    values = {**stored, **outcome.reported}
    results = outcome.results
    if results is None:
        results = {"best_val_loss": min(values.values()) if values else None}
    return {
        "trial_number": trial_number,
        "study_name": study_name,
        "state": outcome.state,
        "hyperparameters": [line for line in overrides if override_key(line) not in params],
        "params": dict(params),
        "results": results,
        "intermediate_values": {str(k): v for k, v in sorted(values.items())},
        "pruned_at_epoch": outcome.pruned_at_epoch,
        "fail_reason": outcome.fail_reason,
    }


def job_overrides(run_dir: Path) -> list[str]:
    """The job's Hydra overrides, as Hydra saved them in its folder ([] when it saved none)."""
    path = Path(run_dir) / OVERRIDES_FILE
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    return [str(item) for item in OmegaConf.load(path)]


def is_job_folder_of(run_dir: Path, trial_number: int, study_name: str) -> bool:
    """Whether `run_dir` is the job folder Hydra made for this trial: it holds Hydra's saved
    overrides, and where they name a trial number and a study (a sweep's jobs always do),
    they name this one. The folder a dead trial's record goes to comes from the study
    storage, which others can write: any other folder gets nothing (docs/security.md)."""
    if not (Path(run_dir) / OVERRIDES_FILE).is_file():
        return False
    overrides = job_overrides(run_dir)
    values = dict(line.split("=", 1) for line in overrides if "=" in line)
    number, study = values.get(TUNING_TRIAL_NUMBER), values.get(TUNING_STUDY_NAME)
    return (number is None or number == str(trial_number)) and (
        study is None or study.strip("'\"") == study_name
    )


def write_trial_record(run_dir: Path, record: dict[str, Any]) -> None:
    """trial.json, through a temporary file and a rename: a killed job never leaves half."""
    atomic_write_json(Path(run_dir) / TRIAL_FILE, record)
