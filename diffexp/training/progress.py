"""A progress bar per epoch on a terminal; plain log lines (one per epoch) otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from tqdm import tqdm


def epoch_steps(n_steps: int, epoch: int, epochs: int, enabled: bool | None = None) -> Iterable:
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        return range(n_steps)
    return tqdm(
        range(n_steps), desc=f"epoch {epoch}/{epochs}", leave=False, unit="step", dynamic_ncols=True
    )


def set_postfix(steps: Iterable | Iterator, **values: float) -> None:
    if isinstance(steps, tqdm):
        steps.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
