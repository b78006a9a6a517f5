"""One trial of a sweep, seen from inside its job: report, prune, and record how it ended.

The train entrypoint wraps its training in `TrialJob.from_config(cfg, run_dir).run(...)`.
For a plain run (`tuning.trial_number` null) that is just `train(cfg, run_dir, None)`.
For a sweep trial the job owns its trial's final state in the shared storage:

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
    LIVENESS_ATTR,
    PRUNER_ATTR,
    RUN_DIR_ATTR,
    TRIAL_FILE,
    TUNING_STORAGE,
    TUNING_STUDY_NAME,
    TUNING_TRIAL_NUMBER,
)
from diffexp.training.results import DivergedError, TrainResult
from diffexp.tuning.trial.record import trial_record, write_json_atomic

# Optuna and the storage are imported by the sweep-trial methods only: a plain run (every
# `python -m diffexp.train` outside a sweep) does not pay for importing them.
if TYPE_CHECKING:
    import optuna

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
        from diffexp.tuning.storage import retry_on_lock

        study, trial = self._load_trial()
        frozen = retry_on_lock(lambda: study._storage.get_trial(trial._trial_id))
        if frozen.state.is_finished():
            log.error(
                "trial %d is already %s (%s); this job does not train it again",
                frozen.number,
                frozen.state.name,
                frozen.user_attrs.get(FAIL_REASON_ATTR, "finished elsewhere"),
            )
            return math.nan
        retry_on_lock(lambda: trial.set_user_attr(RUN_DIR_ATTR, str(self.run_dir.resolve())))
        beater = _start_heartbeat(study, trial._trial_id)
        try:
            return self._train_trial(study, trial, train_fn, objective_fn)
        finally:
            beater.stop()

    def _train_trial(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        train_fn: Callable[[Reporter | None], TrainResult],
        objective_fn: ObjectiveFn,
    ) -> Objective:
        import optuna

        from diffexp.tuning.storage import retry_on_lock
        from diffexp.tuning.trial.reporter import TrialReporter

        reporter = TrialReporter(trial)
        started = time.monotonic()
        try:
            result = train_fn(reporter)
        except optuna.TrialPruned:
            return self._pruned(study, reporter, time.monotonic() - started)
        except DivergedError as exc:
            self._failed(study, reporter, f"diverged: {exc}", time.monotonic() - started)
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {first_line(exc)}"
            self._failed(study, reporter, reason, time.monotonic() - started)
            raise
        value = float(result.best_val_loss)
        if not math.isfinite(value):
            reason = f"diverged: best_val_loss is {value}"
            self._failed(study, reporter, reason, time.monotonic() - started)
            raise DivergedError(result.best_epoch, 0, value)
        try:
            objective = objective_fn(result)
        except Exception as exc:
            reason = f"objective: {type(exc).__name__}: {first_line(exc)}"
            self._failed(study, reporter, reason, time.monotonic() - started)
            raise
        retry_on_lock(lambda: study.tell(self.trial_number, objective))
        fields = _result_fields(result)
        if isinstance(objective, list) or objective != value:
            fields["objective"] = objective
        self._write(study, reporter, "COMPLETE", fields)
        return objective

    def _load_trial(self) -> tuple[optuna.Study, optuna.Trial]:
        import optuna

        from diffexp.tuning.pruners import build_pruner
        from diffexp.tuning.storage import create_storage, retry_on_lock

        assert self.study_name is not None and self.storage is not None
        assert self.trial_number is not None
        storage = create_storage(self.storage)
        study_id = retry_on_lock(lambda: storage.get_study_id_from_name(self.study_name))
        attrs = retry_on_lock(lambda: storage.get_study_user_attrs(study_id))
        pruner = build_pruner(attrs.get(PRUNER_ATTR) or {"_target_": "optuna.pruners.NopPruner"})
        # The job never samples: a RandomSampler keeps Trial construction cheap for any sampler.
        study = optuna.load_study(
            study_name=self.study_name,
            storage=storage,
            pruner=pruner,
            sampler=optuna.samplers.RandomSampler(),
        )
        trial_id = retry_on_lock(
            lambda: storage.get_trial_id_from_study_id_trial_number(study_id, self.trial_number)
        )
        return study, optuna.Trial(study, trial_id)

    def _pruned(self, study: optuna.Study, reporter: TrialReporter, seconds: float) -> float:
        from optuna.trial import TrialState

        from diffexp.tuning.storage import retry_on_lock

        retry_on_lock(lambda: study.tell(self.trial_number, state=TrialState.PRUNED))
        results = {"best_val_loss": _best(reporter), "training_time_seconds": seconds}
        self._write(study, reporter, "PRUNED", results, pruned_at_epoch=reporter.pruned_at_epoch)
        log.info("trial %d pruned at epoch %s", self.trial_number, reporter.pruned_at_epoch)
        return float(reporter.last_value if reporter.last_value is not None else math.nan)

    def _failed(
        self, study: optuna.Study, reporter: TrialReporter, reason: str, seconds: float
    ) -> None:
        from optuna.trial import TrialState

        from diffexp.tuning.storage import retry_on_lock

        number = self.trial_number
        assert number is not None
        retry_on_lock(lambda: reporter.trial.set_user_attr(FAIL_REASON_ATTR, reason))
        retry_on_lock(lambda: study.tell(number, state=TrialState.FAIL))
        results = {"best_val_loss": _best(reporter), "training_time_seconds": seconds}
        self._write(study, reporter, "FAIL", results, fail_reason=reason)
        log.error("trial %d failed: %s", number, reason)

    def _write(
        self,
        study: optuna.Study,
        reporter: TrialReporter,
        state: str,
        results: dict[str, Any],
        *,
        pruned_at_epoch: int | None = None,
        fail_reason: str | None = None,
    ) -> None:
        from diffexp.tuning.storage import retry_on_lock

        assert self.trial_number is not None
        trial_id = reporter.trial._trial_id
        stored = retry_on_lock(lambda: study._storage.get_trial(trial_id)).intermediate_values
        record = trial_record(
            trial_number=self.trial_number,
            study_name=study.study_name,
            state=state,
            hyperparameters=_task_overrides(),
            params=dict(reporter.trial.params),
            results=results,
            # every epoch of the trial, also those a requeued job's earlier run reported
            intermediate_values={**stored, **reporter.values},
            pruned_at_epoch=pruned_at_epoch,
            fail_reason=fail_reason,
        )
        write_json_atomic(self.run_dir / TRIAL_FILE, record)


def _start_heartbeat(study: optuna.Study, trial_id: int) -> Any:
    """Beat for the trial at the interval the sweeper chose (study user attr)."""
    from diffexp.tuning.liveness import Beater
    from diffexp.tuning.liveness_policy import DEFAULT_LIVENESS

    attr = study.user_attrs.get(LIVENESS_ATTR) or {}
    interval = attr.get("interval", DEFAULT_LIVENESS.interval)
    return Beater(study._storage, interval, [trial_id], name=f"heartbeat-{trial_id}").start()


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


def _task_overrides() -> list[str]:
    """The job's full Hydra overrides (sweep params, fixed params, tuning.*)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)
