"""`trial.json` in each trial's Hydra job folder: what ran, how it ended, what it scored.

Written once when the job ends (complete, pruned or failed), through a temporary file and a
rename, so a killed job never leaves a half-written JSON behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diffexp.io_utils import atomic_write_json


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON via a temporary file in the same folder and a rename."""
    atomic_write_json(Path(path), data)


def trial_record(
    *,
    trial_number: int,
    study_name: str,
    state: str,
    hyperparameters: list[str],
    params: dict[str, Any],
    results: dict[str, Any],
    intermediate_values: dict[int, float],
    pruned_at_epoch: int | None = None,
    fail_reason: str | None = None,
) -> dict[str, Any]:
    """The content of trial.json; `hyperparameters` are the job's full Hydra overrides."""
    return {
        "trial_number": trial_number,
        "study_name": study_name,
        "state": state,
        "hyperparameters": hyperparameters,
        "params": params,
        "results": results,
        "intermediate_values": {str(k): v for k, v in sorted(intermediate_values.items())},
        "pruned_at_epoch": pruned_at_epoch,
        "fail_reason": fail_reason,
    }
