"""The analysis report as the text a person reads after a sweep (and pastes into a review).

Follows the original note's printout: TOP-5 CONFIGURATIONS, HYPERPARAMETER IMPORTANCE,
RECOMMENDATIONS, then where the JSON and the plots were written.
"""

from __future__ import annotations

from typing import Any


def format_report(report: dict[str, Any]) -> str:
    """Render the report dict written by `analysis.analyze`."""
    lines = _header(report)
    if report["top_k"] is not None:
        lines += _top_k(report["top_k"])
    else:
        lines += _pareto(report["pareto_front"], report["objective_names"])
    lines += _importance(report["importance"])
    lines += _recommendations(report["recommendations"])
    lines += _files(report)
    return "\n".join(lines)


def _header(report: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{n} {state.lower()}" for state, n in report["counts"].items() if n)
    directions = ", ".join(report["directions"])
    lines = [
        f"STUDY {report['study_name']} ({report['storage']}): {directions}",
        f"  {report['n_trials']} trials: {counts}",
    ]
    others = [n for n in report.get("studies_in_storage", []) if n != report["study_name"]]
    if others:
        lines.append(f"  other studies in this storage (--study NAME): {', '.join(others)}")
    return [*lines, ""]


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items()) or "(no parameters)"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _top_k(top: list[dict[str, Any]]) -> list[str]:
    lines = [f"TOP-{len(top)} CONFIGURATIONS:"]
    for entry in top:
        lines.append(f"Rank {entry['rank']}: Trial #{entry['number']}")
        lines.append(f"  Value: {_fmt(entry['value'])}")
        lines.append(f"  Params: {_params(entry['params'])}")
    return [*lines, ""]


def _pareto(front: list[dict[str, Any]], names: list[str]) -> list[str]:
    lines = [f"PARETO FRONT ({len(front)} trials; multi-objective, no single ranking):"]
    for entry in front:
        values = ", ".join(f"{n}={_fmt(v)}" for n, v in zip(names, entry["values"], strict=True))
        lines.append(f"Trial #{entry['number']}: {values}")
        lines.append(f"  Params: {_params(entry['params'])}")
    return [*lines, ""]


def _importance(importance: dict[str, Any]) -> list[str]:
    title = f"HYPERPARAMETER IMPORTANCE ({importance['evaluator']}, "
    title += f"{importance['n_trials']} complete trials):"
    if importance["by_target"] is None:
        return [title, f"  not computed: {importance['reason']}", ""]
    lines = [title]
    for entry in importance["by_target"]:
        if len(importance["by_target"]) > 1:
            lines.append(f"  for {entry['target']}:")
        lines += [f"  {name}: {value:.3f}" for name, value in entry["params"].items()]
    return [*lines, ""]


def _recommendations(recommendations: list[dict[str, Any]]) -> list[str]:
    lines = ["RECOMMENDATIONS:"]
    if not recommendations:
        lines.append("  none: the best configuration sits inside every range")
    for entry in recommendations:
        lines.append(f"  -> {entry['action']}")
        lines.append(f"     because {entry['reason']}")
    return [*lines, ""]


def _files(report: dict[str, Any]) -> list[str]:
    lines = [f"Results: {report['results_file']}"]
    for name, path in report.get("plots", {}).items():
        lines.append(f"  plot {name}: {path}")
    for name, reason in report.get("plots_skipped", {}).items():
        lines.append(f"  plot {name} skipped: {reason}")
    return lines
