"""One trial of a sweep, seen from inside its job: report, prune, and record how it ended.

The train entrypoint wraps a sweep trial's training (`tuning.trial_number` set) in
`TrialJob.from_config(cfg, run_dir).run(...)`; a plain run trains without it. The job owns
its trial's final state in the shared storage, written through the study gateway
(`diffexp.tuning.study`: one `TrialOutcome`, one `record_outcome`):

- success: COMPLETE with `best_val_loss`;
- `optuna.TrialPruned` from the reporter: PRUNED (Optuna keeps the last reported value);
- `DivergedError`: FAIL with user attr `fail_reason` "diverged: …";
- any other exception: FAIL with `fail_reason` "<ExceptionType>: <message>".

Failures are re-raised after they are recorded, so Hydra's job log and the sweeper both see
them. A job that dies without getting here (killed, out of memory) leaves its trial RUNNING;
the sweeper then marks it FAIL with the reason it got from the launcher, or, when no sweeper
waits on it any more, a sweeper marks it FAIL "heartbeat lost" once its beats stop: while it
trains, the job beats for its trial (`diffexp.tuning.liveness`) and records its folder (user
attr `run_dir`) so whoever fails it can write its `trial.json`. A job requeued by SLURM reports
its remaining epochs to the same trial; `trial.json` lists every epoch the trial reported.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from diffexp.errors import ConfigError, first_line
from diffexp.names import (
    FAIL_REASON_ATTR,
    RUN_DIR_ATTR,
    TUNING_STORAGE,
    TUNING_STUDY_NAME,
    TUNING_TRIAL_NUMBER,
)
from diffexp.training.results import DivergedError, TrainResult
from diffexp.tuning.outcome import State, TrialOutcome

# Optuna and the storage are imported by the sweep-trial methods only: a plain run (every
# `python -m diffexp.train` outside a sweep) does not pay for importing them.
if TYPE_CHECKING:
    import optuna

    from diffexp.tuning.study import StudyGateway
    from diffexp.tuning.trial.reporter import Reporter, TrialReporter

log = logging.getLogger(__name__)

# What a finished job tells its study: one value, or one per direction of a multi-objective
# study (`tuning.objective=both`).
Objective = float | list[float]
ObjectiveFn = Callable[[TrainResult], Objective]


def best_val_loss(result: TrainResult) -> float:
    """The default objective: the best validation loss of the run."""
    return float(result.best_val_loss)


@dataclass
class TrialJob:
    """A training job, optionally bound to trial `trial_number` of a study in `storage`."""

    run_dir: Path
    study_name: str | None = None
    storage: str | None = None
    trial_number: int | None = None

    @classmethod
    def from_config(cls, cfg: DictConfig, run_dir: Path) -> TrialJob:
        """Read `cfg.tuning`; a plain run (trial_number null) gives a job that only trains."""
        number = OmegaConf.select(cfg, TUNING_TRIAL_NUMBER)
        if number is None:
            return cls(run_dir=Path(run_dir))
        study_name = OmegaConf.select(cfg, TUNING_STUDY_NAME)
        storage = OmegaConf.select(cfg, TUNING_STORAGE)
        if not study_name or not storage:
            raise ConfigError(
                f"{TUNING_TRIAL_NUMBER} is set but {TUNING_STUDY_NAME} or {TUNING_STORAGE} is "
                "null; these three are set by the sweeper, leave them all null for a plain run"
            )
        return cls(Path(run_dir), str(study_name), str(storage), int(number))

    def run(
        self,
        train_fn: Callable[[Reporter | None], TrainResult],
        objective_fn: ObjectiveFn = best_val_loss,
    ) -> Objective:
        """Train and return the objective: `objective_fn` of the finished training (by
        default the best validation loss; several values for a multi-objective study), or
        the last reported validation loss if the trial was pruned."""
        if self.trial_number is None:
            return objective_fn(train_fn(None))
        return self._run_trial(train_fn, objective_fn)

    def _run_trial(
        self, train_fn: Callable[[Reporter | None], TrainResult], objective_fn: ObjectiveFn
    ) -> Objective:
        from diffexp.tuning.study import StudyGateway

        assert self.study_name is not None and self.storage is not None
        assert self.trial_number is not None
        gateway, trial = StudyGateway.for_trial(self.storage, self.study_name, self.trial_number)
        frozen = gateway.frozen(trial)
        if frozen.state.is_finished():
            log.error(
                "trial %d is already %s (%s); this job does not train it again",
                frozen.number,
                frozen.state.name,
                frozen.user_attrs.get(FAIL_REASON_ATTR, "finished elsewhere"),
            )
            return math.nan
        gateway.set_trial_attr(trial, RUN_DIR_ATTR, str(self.run_dir.resolve()))
        with gateway.heartbeat(trial):
            return self._train_trial(gateway, trial, train_fn, objective_fn)

    def _train_trial(
        self,
        gateway: StudyGateway,
        trial: optuna.Trial,
        train_fn: Callable[[Reporter | None], TrainResult],
        objective_fn: ObjectiveFn,
    ) -> Objective:
        import optuna

        from diffexp.tuning.trial.reporter import TrialReporter

        reporter = TrialReporter(trial, gateway)
        started = time.monotonic()

        def end(state: State, **fields: Any) -> None:
            if "results" not in fields:
                fields["results"] = {
                    "best_val_loss": _best(reporter),
                    "training_time_seconds": time.monotonic() - started,
                }
            outcome = TrialOutcome(state, reported=reporter.values, run_dir=self.run_dir, **fields)
            gateway.record_outcome(trial, outcome)

        def failed(reason: str) -> None:
            end("FAIL", fail_reason=reason)
            log.error("trial %d failed: %s", trial.number, reason)

        try:
            result = train_fn(reporter)
        except optuna.TrialPruned:
            end("PRUNED", pruned_at_epoch=reporter.pruned_at_epoch)
            log.info("trial %d pruned at epoch %s", trial.number, reporter.pruned_at_epoch)
            return float(reporter.last_value if reporter.last_value is not None else math.nan)
        except DivergedError as exc:
            failed(f"diverged: {exc}")
            raise
        except Exception as exc:
            failed(f"{type(exc).__name__}: {first_line(exc)}")
            raise
        value = float(result.best_val_loss)
        if not math.isfinite(value):
            failed(f"diverged: best_val_loss is {value}")
            raise DivergedError(result.best_epoch, 0, value)
        try:
            objective = objective_fn(result)
        except Exception as exc:
            failed(f"objective: {type(exc).__name__}: {first_line(exc)}")
            raise
        fields = _result_fields(result)
        if isinstance(objective, list) or objective != value:
            fields["objective"] = objective
        values = objective if isinstance(objective, list) else [objective]
        end("COMPLETE", values=values, results=fields)
        return objective


def _result_fields(result: TrainResult) -> dict[str, Any]:
    return {
        "best_val_loss": result.best_val_loss,
        "best_epoch": result.best_epoch,
        "final_train_loss": result.final_train_loss,
        "training_time_seconds": result.training_time_seconds,
        "epochs_completed": result.epochs_completed,
        "stop_reason": result.stop_reason,
    }


def _best(reporter: TrialReporter) -> float | None:
    return min(reporter.values.values()) if reporter.values else None
