"""What a training run hands back to its caller (the entrypoint, the sweeper's trial job)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from diffexp.errors import UserError


class DivergedError(UserError, RuntimeError):
    """The loss turned NaN or infinite: the run stops at once and a sweep marks it diverged."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        super().__init__(f"loss diverged to {loss} at epoch {epoch}, step {step}")
        self.epoch = epoch
        self.step = step
        self.loss = loss


@dataclass
class TrainResult:
    """Outcome of one training run; `best_val_loss` is the objective the sweeper minimizes."""

    best_val_loss: float
    best_epoch: int
    final_train_loss: float
    training_time_seconds: float
    epochs_completed: int
    stop_reason: str  # "completed" | "early_stopped"
    run_dir: Path

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        return data
