"""Explain a study so a person can decide the next step: best configurations, importance,
recommendations, every trial, and plots, written to one JSON file and a folder of PNGs.

`analyze(...)` is the library call behind `python -m diffexp.analyze`; it works on studies
with pruned and failed trials, on studies still running, and on multi-objective studies
(a Pareto front instead of the TOP-k).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from diffexp.io_utils import atomic_write_text
from diffexp.names import ANALYSIS_RESULTS_FILE, FAIL_REASON_ATTR, PRUNER_ATTR
from diffexp.tuning.analysis.importance import Importance, compute_importance, objective_names
from diffexp.tuning.analysis.recommendations import recommend
from diffexp.tuning.storage import PHASE1_COMMAND, StudyError, open_study, shown_url


def analyze(
    study_name: str | None,
    storage: str,
    out_dir: Path,
    importance: str = "fanova",
    top_k: int = 5,
    plots: bool = True,
) -> dict[str, Any]:
    """Analyze one study, write `<out_dir>/diffusion_hyperopt_results.json` and the plots.

    Returns the report (the JSON content). Raises StudyError for an unknown study or storage
    and for a study without a complete trial.
    """
    study, names = open_study(study_name, storage)
    report, imp = build_report(study, storage, importance, top_k)
    report["studies_in_storage"] = names
    if plots:
        from diffexp.tuning.analysis.plots import write_plots  # matplotlib only when drawing

        report["plots"], report["plots_skipped"] = write_plots(study, Path(out_dir), imp)
    results_path = Path(out_dir) / ANALYSIS_RESULTS_FILE
    report["results_file"] = str(results_path)
    write_json_atomic(results_path, report)
    return report


def build_report(
    study: optuna.Study, storage: str, importance: str, top_k: int
) -> tuple[dict[str, Any], Importance]:
    """The analysis as a JSON-ready dict (nothing written), and the importance behind it."""
    trials = study.get_trials(deepcopy=False)
    counts = {state.name: 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.name] += 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise StudyError(
            f"study '{study.study_name}' in {shown_url(storage)} has no complete trial yet "
            f"({_count_text(counts)}); wait for it or run `{PHASE1_COMMAND}`"
        )
    multi = len(study.directions) > 1
    imp = compute_importance(study, importance)
    top = [] if multi else rank_trials(complete, study.direction)[:top_k]
    best = top[0] if top else None
    has_intermediate = any(t.intermediate_values for t in trials)
    report = {
        "study_name": study.study_name,
        "storage": shown_url(storage),
        "directions": [d.name.lower() for d in study.directions],
        "objective_names": objective_names(study),
        "counts": counts,
        "n_trials": len(trials),
        "best_trial": None if best is None else _ranked(best, 1),
        "top_k": None if multi else [_ranked(t, i + 1) for i, t in enumerate(top)],
        "pareto_front": _pareto(study) if multi else None,
        "importance": imp.to_dict(),
        "recommendations": recommend(
            best,
            top,
            imp,
            counts,
            has_intermediate,
            pruner=study.user_attrs.get(PRUNER_ATTR),
            fail_reasons=_fail_reasons(trials),
        ),
        "study_user_attrs": study.user_attrs,
        "trials": [trial_record(t) for t in trials],
    }
    return report, imp


def rank_trials(complete: list[FrozenTrial], direction: StudyDirection) -> list[FrozenTrial]:
    """Complete trials best first; ties go to the earlier trial."""
    sign = 1.0 if direction == StudyDirection.MINIMIZE else -1.0
    return sorted(complete, key=lambda t: (sign * t.value, t.number))


def _fail_reasons(trials: list[FrozenTrial]) -> dict[str, int]:
    """Failed trials counted by the reason the trial job recorded ("unknown" when none)."""
    reasons = Counter(
        str(t.user_attrs.get(FAIL_REASON_ATTR, "unknown"))
        for t in trials
        if t.state == TrialState.FAIL
    )
    return dict(reasons.most_common())


def _ranked(trial: FrozenTrial, rank: int) -> dict[str, Any]:
    return {"rank": rank, "number": trial.number, "value": trial.value, "params": trial.params}


def _pareto(study: optuna.Study) -> list[dict[str, Any]]:
    front = sorted(study.best_trials, key=lambda t: t.number)
    return [{"number": t.number, "values": t.values, "params": t.params} for t in front]


def trial_record(trial: FrozenTrial) -> dict[str, Any]:
    """Everything a later reader needs about one trial, JSON-ready."""
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    return {
        "number": trial.number,
        "state": trial.state.name,
        "params": trial.params,
        "value": trial.value if trial.values is not None and len(trial.values) == 1 else None,
        "values": trial.values,
        "intermediate_values": {str(k): v for k, v in sorted(trial.intermediate_values.items())},
        "duration_seconds": duration,
        "datetime_start": _iso(trial.datetime_start),
        "datetime_complete": _iso(trial.datetime_complete),
        "user_attrs": trial.user_attrs,
    }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def _count_text(counts: dict[str, int]) -> str:
    parts = [f"{n} {state.lower()}" for state, n in counts.items() if n]
    return ", ".join(parts) or "no trials"


def write_json_atomic(path: Path, report: dict[str, Any]) -> None:
    """Write the report so a reader never sees half a file (temp file + os.replace)."""
    atomic_write_text(path, json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n")


def _json_safe(obj: Any) -> Any:
    """NaN/inf become strings ("nan", "inf") so the file stays strict JSON and keeps the fact."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
