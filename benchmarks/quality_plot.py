"""The time-to-quality figure, read at a glance: per peer (or replayed policy) the median over
seeds of the best-so-far validation loss against wall time, with the band between the
seeds' quartiles, one colour per peer, and the quality bar dashed. Drawn on a bare matplotlib
Figure (no pyplot state), as the training curves are."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

PLOT_FILE = "time_to_quality.png"
ZOOM = 1.4  # the y axis ends at 1.4x the bar: the first, poor trials would flatten the rest
GRID_POINTS = 400

Band = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # times, median, q25, q75


def best_so_far_on_grid(timeline: Sequence[tuple[float, float]], grid: np.ndarray) -> np.ndarray:
    """The best value completed by each grid time; inf before the first completion."""
    points = sorted(timeline)
    times = np.array([t for t, _ in points], dtype=float)
    running = np.minimum.accumulate(np.array([v for _, v in points], dtype=float))
    if not len(points):
        return np.full(len(grid), math.inf)
    index = np.searchsorted(times, grid, side="right") - 1
    return np.where(index >= 0, running[np.maximum(index, 0)], math.inf)


def median_band(timelines: Sequence[Sequence[tuple[float, float]]], grid: np.ndarray) -> Band:
    """Median and quartiles over seeds of the best-so-far at each grid time. A seed with no
    completed trial yet counts as infinitely bad, so the median appears once half have one."""
    curves = np.array([best_so_far_on_grid(t, grid) for t in timelines])
    q25, median, q75 = np.percentile(curves, [25, 50, 75], axis=0, method="lower")
    return grid, median, q25, q75


def plot_bands(
    bands: Mapping[str, Band], bar: float, path: Path, title: str, xlabel: str, log_x: bool = False
) -> Path:
    """One median line and quartile band per name; the bar dashed grey."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    finite_top = []
    for index, (name, (times, median, q25, q75)) in enumerate(bands.items()):
        colour = f"C{index % 10}"
        shown = np.isfinite(median)
        ax.plot(times[shown], median[shown], color=colour, label=name, linewidth=1.6)
        upper = np.where(np.isfinite(q75), q75, np.nan)
        ax.fill_between(
            times, q25, upper, where=np.isfinite(q25), color=colour, alpha=0.18, linewidth=0
        )
        finite_top.extend(median[shown].tolist())
    if math.isfinite(bar):
        ax.axhline(bar, color="grey", linestyle="--", linewidth=0.9, label="quality bar")
        top = min(max(finite_top, default=bar * ZOOM), bar * ZOOM)
        bottom = min([bar, *finite_top]) * 0.995
        if top > bottom:
            ax.set_ylim(bottom, top)
    if log_x:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel="best validation loss so far", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_time_to_quality(
    runs: Sequence[Mapping[str, dict]], peers: Sequence[str], bars: Sequence[float], path: Path
) -> Path:
    """`runs[i][peer]` holds `timeline` and `wall_seconds` of seed i; `bars[i]` its bar (the
    median bar is drawn). Each peer's band ends at its longest seed's wall time."""
    bands = {}
    for peer in peers:
        end = max(float(run[peer]["wall_seconds"]) for run in runs)
        grid = np.linspace(0.0, end, GRID_POINTS)
        bands[peer] = median_band([run[peer]["timeline"] for run in runs], grid)
    finite_bars = [b for b in bars if math.isfinite(b)]
    bar = float(np.median(finite_bars)) if finite_bars else math.nan
    title = f"Time to quality: median of {len(runs)} seeds, band: quartiles; grey: median 1% bar"
    return plot_bands(bands, bar, path, title, "wall time since the command started (s)")
