"""The time-to-quality figure: every peer's best-so-far validation loss against wall time,
one colour per peer, one line style per seed, and each seed's quality bar dashed. Drawn on a
bare matplotlib Figure (no pyplot state), as the training curves are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from diffexp.bench.quality import best_so_far

PLOT_FILE = "time_to_quality.png"
LINE_STYLES = ("-", "--", ":", "-.")
ZOOM = 1.4  # the y axis ends at 1.4x the highest bar: the first, poor trials would flatten the rest


def step_points(
    timeline: Sequence[tuple[float, float]], end_seconds: float
) -> tuple[list[float], list[float]]:
    """x and y of the best-so-far as a step line held flat until `end_seconds` (the peer's
    wall time), so a peer's last improvement is visibly followed by its remaining time."""
    curve = best_so_far(timeline)
    xs, ys = [], []
    for seconds, value in curve:
        if ys:
            xs.append(seconds)
            ys.append(ys[-1])
        xs.append(seconds)
        ys.append(value)
    if curve and end_seconds > xs[-1]:
        xs.append(end_seconds)
        ys.append(ys[-1])
    return xs, ys


def plot_time_to_quality(
    runs: Sequence[Mapping[str, dict]], peers: Sequence[str], bars: Sequence[float], path: Path
) -> Path:
    """`runs[i][peer]` holds `timeline` and `wall_seconds` of seed i; `bars[i]` its bar."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    colours = {peer: f"C{index}" for index, peer in enumerate(peers)}
    ys_all: list[float] = []
    for seed_index, run in enumerate(runs):
        style = LINE_STYLES[seed_index % len(LINE_STYLES)]
        for peer in peers:
            xs, ys = step_points(run[peer]["timeline"], float(run[peer]["wall_seconds"]))
            ys_all.extend(ys)
            label = peer if seed_index == 0 else None
            ax.plot(xs, ys, style, color=colours[peer], label=label, linewidth=1.4)
        ax.axhline(bars[seed_index], color="grey", linestyle=style, linewidth=0.8)
    top = min(max(ys_all, default=1.0), ZOOM * max(bars)) if bars else None
    if top is not None and top > min(bars):
        ax.set_ylim(min(min(ys_all, default=top), min(bars)) * 0.995, top)
    ax.set(
        xlabel="wall time since the command started (s)",
        ylabel="best validation loss so far",
        title="Time to quality (one line style per seed; grey: the seed's 1% quality bar)",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
