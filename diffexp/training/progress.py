"""A progress bar per epoch on a terminal; plain log lines (one per epoch) otherwise.

The trainer runs several optimizer steps per compiled call, so the bar advances by chunks."""

from __future__ import annotations

import sys

from tqdm import tqdm


class EpochProgress:
    """`update(n_steps, loss)` after each chunk of steps; `close()` at the end of the epoch."""

    def __init__(self, n_steps: int, epoch: int, epochs: int, enabled: bool | None = None) -> None:
        show = sys.stderr.isatty() if enabled is None else enabled
        self._bar = (
            tqdm(
                total=n_steps,
                desc=f"epoch {epoch}/{epochs}",
                leave=False,
                unit="step",
                dynamic_ncols=True,
            )
            if show
            else None
        )

    def update(self, n_steps: int, loss: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix({"loss": f"{loss:.4g}"}, refresh=False)
            self._bar.update(n_steps)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
