"""The pictures a physicist looks at: per-PMT charge spectra, total charge vs energy, event
displays of the unrolled detector, the score components, and the PMT-selection curves.
Each function writes one PNG and returns its path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a cluster node
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from diffexp.data import EventSet  # noqa: E402
from diffexp.verification.features import energy_column  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def pmt_charge_distributions(
    simulated: EventSet, generated: EventSet, pmt_columns: np.ndarray, path: Path
) -> Path:
    """Charge histograms of a sample of PMTs, simulated vs generated (log counts)."""
    n = len(pmt_columns)
    n_cols = min(4, n)
    n_rows = int(np.ceil(n / n_cols))
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False)
    for ax, column in zip(axes.flat, pmt_columns, strict=False):
        # The range follows the simulation; a wild model's charges pile up in the last bin.
        top = 1.5 * max(float(np.quantile(simulated.charges[:, column], 0.995)), 1.0)
        edges = np.linspace(0.0, top, 31)
        for events, label in ((simulated, "simulated"), (generated, "generated")):
            ax.hist(np.minimum(events.charges[:, column], top), edges, histtype="step", label=label)
        ax.set_yscale("log")
        ax.set_title(f"PMT {int(simulated.pmt_ids[column])}", fontsize=9)
        ax.set_xlabel("charge [PE]", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    return _save(figure, path)


def low_charge_spectrum(simulated: EventSet, generated: EventSet, path: Path) -> Path:
    """Hit charges below 3 PE, all PMTs together: the threshold edge, the single-PE peak
    and the valley to two PE, where a generator's no-hit spike or smearing shows first."""
    figure, ax = plt.subplots(figsize=(6.0, 3.6))
    edges = np.linspace(0.0, 3.0, 61)
    for events, label in ((simulated, "simulated"), (generated, "generated")):
        charges = events.charges[(events.charges > 0) & (events.charges < 3.0)]
        ax.hist(
            charges,
            edges,
            histtype="step",
            label=label,
            weights=np.full(charges.size, 1.0 / events.n_events),
        )
    ax.set_xlabel("hit charge [PE]")
    ax.set_ylabel("hits per event per bin")
    ax.set_title("low-charge spectrum (all PMTs)")
    ax.legend()
    return _save(figure, path)


def pulls_per_pmt(
    simulated: EventSet, generated: EventSet, expected: np.ndarray, path: Path
) -> Path:
    """Per PMT, the mean and the spread of the pull (charge - expected) / sqrt(expected):
    a generator that misses a PMT's mean shows as a mean off the simulation's, one with
    too much or too little scatter as a spread off it (Poisson + single-PE smearing)."""
    figure, axes = plt.subplots(2, 1, figsize=(8.0, 5.0), sharex=True)
    columns = np.arange(simulated.n_pmt)
    scale = np.sqrt(np.maximum(expected, 1e-3))
    for events, label in ((simulated, "simulated"), (generated, "generated")):
        pulls = (events.charges - expected) / scale
        axes[0].plot(columns, pulls.mean(axis=0), ".", ms=4, label=label)
        axes[1].plot(columns, pulls.std(axis=0), ".", ms=4, label=label)
    axes[0].set_ylabel("mean pull")
    axes[1].set_ylabel("pull spread")
    axes[1].set_xlabel("charge column (PMT)")
    axes[0].legend(fontsize=8)
    axes[0].set_title("pulls against the simulator's expectation, per PMT")
    return _save(figure, path)


def total_charge_vs_energy(simulated: EventSet, generated: EventSet, path: Path) -> Path:
    """Total charge against the energy condition: the calorimetric response and its spread."""
    index = energy_column(simulated)
    figure, ax = plt.subplots(figsize=(5.5, 4.2))
    for events, label, marker in ((simulated, "simulated", "o"), (generated, "generated", "x")):
        ax.scatter(
            events.conditions[:, index],
            events.charges.sum(axis=1),
            s=6,
            alpha=0.5,
            marker=marker,
            label=label,
        )
    ax.set_xlabel(simulated.condition_names[index])
    ax.set_ylabel("total charge [PE]")
    ax.set_ylim(0.0, 1.5 * float(simulated.charges.sum(axis=1).max()))  # the simulation's range
    ax.legend()
    return _save(figure, path)


def hit_maps(
    unrolled: np.ndarray,
    maps: dict[str, np.ndarray],
    condition_text: str,
    path: Path,
) -> Path:
    """Event displays of the unrolled detector: one panel per named charge map [n_pmt],
    PMTs at `unrolled` [n_pmt, 2] positions, on the colour scale of the first map (the
    simulation), so a wild model saturates instead of washing out the picture."""
    figure, axes = plt.subplots(1, len(maps), figsize=(3.6 * len(maps), 4.6), squeeze=False)
    vmax = float(np.max(next(iter(maps.values())))) or 1.0
    for ax, (title, values) in zip(axes.flat, maps.items(), strict=True):
        points = ax.scatter(
            unrolled[:, 0], unrolled[:, 1], c=values, s=28, cmap="viridis", vmin=0.0, vmax=vmax
        )
        ax.set_title(title, fontsize=9)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    figure.colorbar(points, ax=axes.ravel().tolist(), label="charge [PE]", shrink=0.8)
    figure.suptitle(condition_text, fontsize=9)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def score_components(components: dict[str, float | None], score: float, path: Path) -> Path:
    """Bar chart of the component scores (skipped components shown empty)."""
    names = list(components)
    values = [components[name] if components[name] is not None else 0.0 for name in names]
    figure, ax = plt.subplots(figsize=(6.0, 3.6))
    bars = ax.bar(
        names, values, color=["C0" if components[n] is not None else "0.8" for n in names]
    )
    for bar, name in zip(bars, names, strict=True):
        label = "skipped" if components[name] is None else f"{components[name]:.2f}"
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            bar.get_height() + 0.02,
            label,
            ha="center",
            fontsize=8,
        )
    ax.axhline(score, color="k", linestyle="--", label=f"physics score {score:.2f}")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score (1 = noise floor, 0 = shuffled)")
    ax.tick_params(axis="x", labelsize=8, rotation=20)
    ax.legend(fontsize=8)
    return _save(figure, path)


def resolution_curves(
    k_values: list[int],
    curves: dict[str, np.ndarray],
    band: tuple[np.ndarray, np.ndarray] | None,
    parameter_labels: list[str],
    path: Path,
) -> Path:
    """Cramér–Rao resolution vs number of PMTs kept, one panel per parameter."""
    figure, axes = plt.subplots(
        1, len(parameter_labels), figsize=(3.6 * len(parameter_labels), 3.4)
    )
    for p, (ax, label) in enumerate(zip(axes, parameter_labels, strict=True)):
        for name, values in curves.items():
            ax.plot(k_values, values[:, p], marker="o", label=name)
        if band is not None:
            ax.fill_between(k_values, band[0][:, p], band[1][:, p], alpha=0.2, color="C2")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("PMTs kept")
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=7)
    return _save(figure, path)
