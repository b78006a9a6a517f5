"""The LR range test (Smith 2017, section 3.3): train for a few hundred steps while the LR
grows exponentially, stop once the loss explodes, and read good LRs off the loss curve.

Suggestions: `lr` = the LR of steepest descent of the smoothed loss (where learning is
fastest); cyclical bounds `max_lr` = a third of the LR at the loss minimum (just below where
training turns unstable) and `base_lr` = max_lr / 4, as Smith recommends a 3-4x range.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from diffexp.errors import ConfigError  # noqa: E402
from diffexp.io_utils import atomic_write_json  # noqa: E402
from diffexp.names import LR_FIND_PLOT, LR_FIND_REPORT  # noqa: E402

log = logging.getLogger(__name__)

SMOOTHING = 0.9  # EMA factor for the loss curve
EXPLOSION_FACTOR = 4.0  # stop once the smoothed loss exceeds this multiple of its minimum


def run_range_test(trainer, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps `trainer` once per LR in `lrs` (its optimizer must follow the same ramp)."""
    smoothed, average, best = [], 0.0, math.inf
    for i, _lr in enumerate(lrs):
        loss = trainer.train_step()
        if not math.isfinite(loss):
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        value = average / (1 - SMOOTHING ** (i + 1))
        smoothed.append(value)
        best = min(best, value)
        if value > EXPLOSION_FACTOR * best and i > 10:
            break
    return lrs[: len(smoothed)], np.asarray(smoothed)


def suggest(lrs: np.ndarray, losses: np.ndarray) -> dict[str, float]:
    if len(losses) < 5:
        raise ConfigError(
            "LR range test: the loss diverged within 5 steps; lower trainer.lr_find_min_lr"
        )
    cut = int(np.argmin(losses))
    log_lrs = np.log10(lrs)
    slope = np.gradient(losses[: cut + 1], log_lrs[: cut + 1]) if cut >= 2 else np.zeros(1)
    steepest = int(np.argmin(slope)) if cut >= 2 else 0
    lr_at_min = float(lrs[cut])
    max_lr = lr_at_min / 3.0
    return {
        "lr": float(lrs[steepest]),
        "lr_at_min_loss": lr_at_min,
        "cyclical_max_lr": max_lr,
        "cyclical_base_lr": max_lr / 4.0,
        "min_smoothed_loss": float(losses[cut]),
    }


def write_report(
    run_dir: Path, lrs: np.ndarray, losses: np.ndarray, suggestion: dict[str, float]
) -> None:
    atomic_write_json(
        Path(run_dir) / LR_FIND_REPORT,
        {
            "suggestion": suggestion,
            "learning_rates": lrs.tolist(),
            "smoothed_loss": losses.tolist(),
        },
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for key, style in (("lr", "g--"), ("cyclical_max_lr", "r:"), ("cyclical_base_lr", "b:")):
        ax.axvline(
            suggestion[key],
            color=style[0],
            linestyle=style[1:],
            label=f"{key}={suggestion[key]:.2g}",
        )
    ax.set(xlabel="learning rate", ylabel="smoothed training loss", title="LR range test")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(Path(run_dir) / LR_FIND_PLOT, dpi=110)
    plt.close(fig)
