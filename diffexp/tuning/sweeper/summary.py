"""What a sweep leaves in its folder: Hydra's `optimization_results.yaml` and a summary.

`optimization_results.yaml` keeps the official sweeper's format (name, best_params,
best_value) so tools written for it still work; `sweep_summary.yaml` adds how many trials
completed, were pruned or failed (this sweep and the whole study), why each failure failed,
and the best trial. The same summary is printed at the end of the sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial, TrialState

from diffexp.names import FAIL_REASON_ATTR, SWEEP_RESULTS_FILE, SWEEP_SUMMARY_FILE


def count_states(trials: list[FrozenTrial]) -> dict[str, int]:
    """Counts of complete / pruned / failed / running trials."""
    counts = {"complete": 0, "pruned": 0, "failed": 0, "running": 0}
    names = {
        TrialState.COMPLETE: "complete",
        TrialState.PRUNED: "pruned",
        TrialState.FAIL: "failed",
    }
    for trial in trials:
        counts[names.get(trial.state, "running")] += 1
    return counts


def best_complete_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best COMPLETE trial, or None when there is none (or the study is multi-objective)."""
    if len(study.directions) > 1:
        return None
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return study.best_trial if complete else None


def build_summary(study: optuna.Study, storage: str, sweep_numbers: list[int]) -> dict[str, Any]:
    """Summary of `study`, with `sweep_numbers` the trials launched by this sweep."""
    trials = study.get_trials(deepcopy=False)
    mine = [t for t in trials if t.number in set(sweep_numbers)]
    best = best_complete_trial(study)
    return {
        "study_name": study.study_name,
        "storage": storage,
        "this_sweep": count_states(mine),
        "study": {**count_states(trials), "finished": sum(t.state.is_finished() for t in trials)},
        "failed_trials": {
            t.number: t.user_attrs.get(FAIL_REASON_ATTR, "unknown")
            for t in mine
            if t.state == TrialState.FAIL
        },
        "best": None
        if best is None
        else {
            "trial_number": best.number,
            "value": best.value,
            "params": best.params,
        },
        "pareto_front": pareto_numbers(study),
    }


def pareto_numbers(study: optuna.Study) -> list[int] | None:
    """The Pareto-optimal trials of a multi-objective study (None for a single objective)."""
    if len(study.directions) == 1:
        return None
    return sorted(t.number for t in study.best_trials)


def write_results(sweep_dir: Path, study: optuna.Study, summary: dict[str, Any]) -> None:
    """Write optimization_results.yaml (official format) and sweep_summary.yaml."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    best = summary["best"]
    if best is not None:
        official = {"name": "optuna", "best_params": best["params"], "best_value": best["value"]}
    elif len(study.directions) > 1:
        front = [{"params": t.params, "values": t.values} for t in study.best_trials]
        official = {"name": "optuna", "solutions": front}
    else:
        official = {"name": "optuna", "best_params": None, "best_value": None}
    OmegaConf.save(OmegaConf.create(official), sweep_dir / SWEEP_RESULTS_FILE)
    OmegaConf.save(OmegaConf.create(summary), sweep_dir / SWEEP_SUMMARY_FILE)


def format_summary(summary: dict[str, Any]) -> str:
    """The few lines printed at the end of a sweep."""
    sweep, study = summary["this_sweep"], summary["study"]
    lines = [
        f"study '{summary['study_name']}' ({summary['storage']})",
        f"  this sweep: {sweep['complete']} completed, {sweep['pruned']} pruned, "
        f"{sweep['failed']} failed",
        f"  study total: {study['finished']} finished ({study['complete']} completed, "
        f"{study['pruned']} pruned, {study['failed']} failed)",
    ]
    for number, reason in summary["failed_trials"].items():
        lines.append(f"  trial {number} failed: {reason}")
    best, front = summary["best"], summary.get("pareto_front")
    if front:
        lines.append(f"  Pareto front: {len(front)} trials {front}")
    elif best is None:
        lines.append("  best: none (no completed trial)")
    else:
        lines.append(
            f"  best: trial {best['trial_number']} value {best['value']:.6g} "
            f"params {best['params']}"
        )
    return "\n".join(lines)
