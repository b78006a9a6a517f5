"""The study's plots as PNGs, drawn by `optuna.visualization.matplotlib` on the Agg backend.

Single-objective-only plots are skipped for a multi-objective study, and every skipped plot
is reported with its reason, so a missing file is never a silent surprise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on clusters and in tests

import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.exceptions import ExperimentalWarning  # noqa: E402
from optuna.visualization import matplotlib as ovm  # noqa: E402

from diffexp.errors import first_line  # noqa: E402
from diffexp.tuning.analysis.importance import Importance, make_evaluator  # noqa: E402

PlotFn = Callable[[], object]


def write_plots(
    study: optuna.Study, out_dir: Path, importance: Importance
) -> tuple[dict[str, str], dict[str, str]]:
    """Write every applicable plot; return ({name: path}, {skipped name: reason})."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name, draw, reason in _plans(study, importance):
        if draw is None:
            skipped[name] = reason
            continue
        path = out_dir / f"{name}.png"
        try:
            _save(draw, path)
        except (ValueError, RuntimeError) as exc:
            skipped[name] = f"optuna could not draw it: {first_line(str(exc))}"
            continue
        written[name] = str(path)
    return written, skipped


def _plans(study: optuna.Study, importance: Importance) -> list[tuple[str, PlotFn | None, str]]:
    multi = len(study.directions) > 1
    single_only = "single-objective plot; this study is multi-objective (see pareto_front)"
    no_importance = importance.reason or ""
    evaluator = make_evaluator(importance.evaluator)
    plans: list[tuple[str, PlotFn | None, str]] = [
        (
            "optimization_history",
            None if multi else lambda: ovm.plot_optimization_history(study),
            single_only,
        ),
        (
            "param_importances",
            None
            if multi or importance.by_target is None
            else lambda: ovm.plot_param_importances(study, evaluator=evaluator),
            single_only if multi else no_importance,
        ),
        (
            "parallel_coordinate",
            None if multi else lambda: ovm.plot_parallel_coordinate(study),
            single_only,
        ),
        (
            "intermediate_values",
            None if multi else lambda: ovm.plot_intermediate_values(study),
            "multi-objective trials cannot report intermediate values",
        ),
        ("slice", None if multi else lambda: ovm.plot_slice(study), single_only),
    ]
    if multi:
        n_objectives = len(study.directions)
        draw = (lambda: ovm.plot_pareto_front(study)) if n_objectives <= 3 else None
        plans.append(("pareto_front", draw, f"{n_objectives} objectives; the plot needs 2 or 3"))
    return plans


def _save(draw: PlotFn, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)  # e.g. "no intermediate values" notes
        result = draw()
    figure = _figure_of(result)
    try:
        figure.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(figure)


def _figure_of(result: object) -> plt.Figure:
    """Optuna returns an Axes or an array of Axes (slice, several params)."""
    if hasattr(result, "figure"):
        return result.figure
    first = next(iter(getattr(result, "flat", [])), None)
    if first is None:
        raise RuntimeError("optuna returned no axes")
    return first.figure
