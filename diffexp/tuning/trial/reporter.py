"""The per-epoch link from a training job to its Optuna trial: report, then maybe prune.

The trainer calls `report(epoch, validation_loss)` once per epoch after validation (epochs
counted from 1). The value goes to the trial in the shared storage, so the pruner compares it
with the other trials at the same epoch, including those running in other processes; when the
pruner says stop, `optuna.TrialPruned` is raised from inside the trainer and the job records
the trial as PRUNED.
"""

from __future__ import annotations

import logging
import math
from typing import Protocol

import optuna

from diffexp.tuning.study import StudyGateway

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """What the trainer sees: one call per epoch; may raise `optuna.TrialPruned`."""

    def report(self, epoch: int, value: float) -> None: ...


class TrialReporter:
    """Reports to one Optuna trial and remembers the last value (the PRUNED trial's value)."""

    def __init__(self, trial: optuna.Trial, gateway: StudyGateway | None = None) -> None:
        self.trial = trial
        self._gateway = gateway or StudyGateway(trial.study)
        # Optuna defines intermediate values and pruning for one objective only: a trial of a
        # multi-objective study (tuning.objective=both) keeps its epochs here and is never pruned.
        self.prunable = len(trial.study.directions) == 1
        if not self.prunable:
            log.info("trial %d: several objectives, epochs not reported, no pruning", trial.number)
        self.last_epoch: int | None = None
        self.last_value: float | None = None
        self.pruned_at_epoch: int | None = None
        self.values: dict[int, float] = {}

    def report(self, epoch: int, value: float) -> None:
        value = float(value)
        if not math.isfinite(value):
            # A NaN/inf loss is the trainer's to raise (DivergedError); the pruner must not
            # compare it with other trials' losses.
            log.warning("trial %d: epoch %d value %s not reported", self.trial.number, epoch, value)
            return
        self.last_epoch, self.last_value = epoch, value
        self.values[epoch] = value
        if not self.prunable:
            return
        self._gateway.report(self.trial, value, epoch)
        if self._gateway.should_prune(self.trial):
            self.pruned_at_epoch = epoch
            raise optuna.TrialPruned(
                f"trial {self.trial.number} pruned at epoch {epoch} (value {value:.6g})"
            )
