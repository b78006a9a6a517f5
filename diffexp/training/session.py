"""One training run from config to artifacts: data, transform, trainer, summary. Kept apart
from the Hydra entrypoint so tests and the benchmark can run it in-process."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from diffexp import names, runtime
from diffexp.data import EventTransform
from diffexp.errors import UserError, first_line
from diffexp.io_utils import atomic_write_json
from diffexp.registry import denoiser_entry
from diffexp.training import checkpoints, environment, records, trainer_cache, worker_cache
from diffexp.training.preparation import prepare_data
from diffexp.training.results import DivergedError, TrainResult

log = logging.getLogger(__name__)


class RunFolderInUse(UserError, ValueError):
    """The run folder already holds a run that this one would overwrite."""


def stop_reason_of(error: BaseException) -> str:
    if isinstance(error, DivergedError):
        return "diverged"
    if type(error).__name__ == "TrialPruned":
        return "pruned"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return "failed"


def resume_requested(setting: bool | str, run_dir: Path) -> bool:
    """`trainer.resume`: true/false, or "auto" = resume when the run folder holds a checkpoint.
    "auto" is what a requeued SLURM job needs: submitit re-runs the same command in the same
    folder after a time limit or preemption, and the first start has no checkpoint yet."""
    if setting == "auto":
        return checkpoints.has_checkpoint(run_dir)
    return bool(setting)


class TrainingSession:
    """One run in its folder: checks the folder, sets precision and seeds, prepares the data
    (`prepare_data`), keeps the normalisation with the run, then trains (`run`) or runs the
    LR range test, and writes the summary whatever ended the run."""

    def __init__(self, cfg: DictConfig, run_dir: Path, best_of: dict | None = None) -> None:
        self.cfg = cfg
        self.best_of = best_of  # a best_of= run: study, trial, each value and its origin
        self.run_dir = Path(run_dir)
        self.resume = resume_requested(cfg.trainer.resume, self.run_dir)
        self._check_run_folder()
        self.precision = runtime.configure_precision(
            str(cfg.precision.policy), bool(cfg.precision.force)
        )
        runtime.seed_everything(int(cfg.seed))
        transform_path = self.run_dir / names.TRANSFORM_FILE
        saved = self.resume and transform_path.exists()
        if saved:  # a resumed run keeps the normalisation it was trained with
            self.data = prepare_data(cfg, EventTransform.load(transform_path))
        else:  # a new run: from the worker's memory when it kept this data (worker_cache)
            self.data = worker_cache.prepared_data(cfg)
        if not saved:
            self.data.transform.save(transform_path)

    def _check_run_folder(self) -> None:
        has_checkpoint = checkpoints.has_checkpoint(self.run_dir)
        if self.resume and not has_checkpoint:
            raise RunFolderInUse(
                f"trainer.resume=true but {self.run_dir} has no checkpoint; pass "
                "hydra.run.dir=<the folder of the run to continue>"
            )
        if not self.resume and (has_checkpoint or (self.run_dir / names.METRICS_FILE).exists()):
            raise RunFolderInUse(
                f"{self.run_dir} already holds a run; pass trainer.resume=true to continue it "
                "or choose another hydra.run.dir"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def build_trainer(self, lr_schedule=None, sample_metric=None):
        from diffexp.training.trainer import Trainer

        if lr_schedule is None and sample_metric is None and not self.resume:
            # a new run: on a compiled trainer the worker kept for this shape (trainer_cache);
            # a resumed run's data carry the normalisation it saved, so it builds its own, and
            # a sample metric belongs to this run's model
            return trainer_cache.trainer_for(self.cfg, self.data, self.run_dir)
        return Trainer.from_config(
            self.cfg,
            self.data,
            self.run_dir,
            lr_schedule=lr_schedule,
            sample_metric=self._of_model(sample_metric),
        )

    def _of_model(self, sample_metric):
        """`sample_metric` takes a loaded run (what generation needs: config, model, noise
        schedule, normalisation); the trainer hands it the model it trains."""
        if sample_metric is None:
            return None
        from diffexp.models import NoiseSchedule
        from diffexp.models.loading import LoadedRun

        schedule = NoiseSchedule.from_config(self.cfg.diffusion)
        transform = self.data.transform
        return lambda model: sample_metric(
            LoadedRun(self.cfg, model, schedule, transform, self.run_dir)
        )

    def run(self, reporter=None, sample_metric=None) -> TrainResult:
        """Train; `sample_metric(loaded run) -> float` is measured when
        trainer.checkpoint_metric=sample_auc (the entrypoint builds it from the verification)."""
        trainer = self.build_trainer(sample_metric=sample_metric)
        try:
            result = trainer.fit(reporter=reporter, resume=self.resume)
        except checkpoints.CheckpointError:
            raise  # nothing was trained: keep the earlier run's summary as it is
        except BaseException as error:
            try:
                self.write_summary(trainer, stop_reason_of(error), error)
            except OSError as write_error:  # e.g. the disk is full: report the first error
                log.error("could not write the training summary: %s", write_error)
            raise
        self.write_summary(trainer, result.stop_reason)
        return result

    def write_summary(self, trainer, stop_reason: str, error: BaseException | None = None) -> dict:
        rows = records.read_metrics(self.run_dir)
        best = min(rows, key=lambda r: r["val_loss"]) if rows else None
        measured = [row for row in rows if row.get("sample_metric") is not None]
        chosen = min(measured, key=lambda r: r["sample_metric"]) if measured else best
        summary = {
            "experiment_name": self.cfg.experiment_name,
            "stop_reason": stop_reason,
            "error": (first_line(str(error)) or None) if error is not None else None,
            "best_val_loss": best["val_loss"] if best else None,
            "best_epoch": chosen["epoch"] if chosen else None,  # the epoch best_model holds
            "best_sample_metric": chosen.get("sample_metric") if chosen else None,
            "final_train_loss": rows[-1]["train_loss"] if rows else None,
            "final_val_loss": rows[-1]["val_loss"] if rows else None,
            "epochs_completed": rows[-1]["epoch"] if rows else 0,
            "training_time": rows[-1]["training_time_seconds"] if rows else 0.0,
            "mean_samples_per_second": (
                float(np.mean([r["samples_per_second"] for r in rows])) if rows else None
            ),
            "parameter_count": trainer.parameter_count,
            "n_train_events": self.data.n_train,
            "n_val_events": self.data.n_val,
            "precision": self.precision,
            "hyperparameters": {
                "optimizer": OmegaConf.to_container(self.cfg.optimizer, resolve=True),
                "model": OmegaConf.to_container(self.cfg.model, resolve=True),
                "schedule": OmegaConf.to_container(self.cfg.schedule, resolve=True),
                "batch_size": int(self.cfg.trainer.batch_size),
            },
            # the package that built the model: a process loading the run says what to install
            "denoiser": denoiser_entry(str(self.cfg.model.name)).provenance(),
            "best_of": self._provenance(),
            "package_versions": environment.package_versions(),
            "git_commit": environment.git_commit(),
            "hardware": environment.hardware(),
        }
        atomic_write_json(self.run_dir / names.SUMMARY_FILE, summary)
        return summary

    def _provenance(self) -> dict | None:
        if not self.cfg.best_of:
            return None
        if self.best_of is not None:
            return self.best_of
        return {
            "study_name": self.cfg.best_of,
            # as configured (an ${oc.env:…} stays unresolved): a resolved URL may hold a password
            "storage": OmegaConf.to_container(self.cfg.paths, resolve=False)["study_storage"],
            "trial_number": self.cfg.best_of_trial,
        }

    def lr_range_test(self) -> float:
        from diffexp.training import lr_finder
        from diffexp.training.schedules import exponential_ramp

        n_steps = int(self.cfg.trainer.lr_find_steps)
        min_lr = float(self.cfg.trainer.lr_find_min_lr)
        max_lr = float(self.cfg.trainer.lr_find_max_lr)
        ramp = exponential_ramp(min_lr, max_lr, n_steps)
        trainer = self.build_trainer(lr_schedule=ramp)
        lrs = np.asarray(ramp(np.arange(n_steps)), dtype=np.float64)  # the LR of each step
        tried, losses = lr_finder.run_range_test(trainer, lrs)
        suggestion = lr_finder.suggest(tried, losses)
        lr_finder.write_report(self.run_dir, tried, losses, suggestion)
        log.info(
            "LR range test: suggested optimizer.lr=%.3g; cyclical bounds %.3g .. %.3g (plot: %s)",
            suggestion["lr"],
            suggestion["cyclical_base_lr"],
            suggestion["cyclical_max_lr"],
            self.run_dir / names.LR_FIND_PLOT,
        )
        print(
            f"suggested: optimizer.lr={suggestion['lr']:.3g}  schedule=cyclical with "
            f"base {suggestion['cyclical_base_lr']:.3g}, max {suggestion['cyclical_max_lr']:.3g}"
        )
        value = suggestion["min_smoothed_loss"]
        return value if math.isfinite(value) else float("inf")
