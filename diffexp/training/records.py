"""Per-epoch and per-run records: metrics.jsonl (one JSON line per epoch) and the
training curves plot. Field names follow the project's original note."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diffexp.io_utils import atomic_write_text
from diffexp.names import CURVES_FILE, METRICS_FILE


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a kill: everything after it is untrusted
    return rows


def truncate_metrics(run_dir: Path, last_epoch: int) -> None:
    """Keep the epochs a resumed run has checkpointed; later lines will be recomputed."""
    rows = [row for row in read_metrics(run_dir) if row["epoch"] <= last_epoch]
    atomic_write_text(Path(run_dir) / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in rows))


def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    with open(Path(run_dir) / METRICS_FILE, "a") as handle:
        handle.write(json.dumps(row) + "\n")
        handle.flush()


def plot_training_curves(run_dir: Path) -> Path | None:
    """Drawn on a bare Figure, which saves through its own Agg canvas: no pyplot, no global
    figure state, and matplotlib is imported only here, so importing this module (every
    training run does) stays free of pyplot's ~0.3 s import."""
    rows = read_metrics(run_dir)
    if not rows:
        return None
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(10, 4))
    # fixed margins: tight_layout measured every tick label first, ~0.12 s a trial
    fig.subplots_adjust(left=0.105, right=0.985, bottom=0.13, top=0.92, wspace=0.27)
    loss_ax, lr_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train")
    loss_ax.plot(epochs, [r["val_loss"] for r in rows], "s-", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="noise-prediction MSE", title="Loss")
    loss_ax.set_yscale("log")
    loss_ax.legend()
    loss_ax.grid(alpha=0.3)
    lr_ax.plot(epochs, [r["learning_rate"] for r in rows], "o-", color="tab:green")
    lr_ax.set(xlabel="epoch", ylabel="learning rate (end of epoch)", title="Learning rate")
    lr_ax.grid(alpha=0.3)
    path = Path(run_dir) / CURVES_FILE
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    return path
