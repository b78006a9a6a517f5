"""A task that behaves like diffexp.train in a sweep, in milliseconds instead of minutes.

Its "validation loss" per epoch is a function of the sampled `task.x`; per trial number it can
run long, turn NaN, raise, or kill its own process, so the sweeper's scheduling, pruning and
fault handling are tested on real `-m` multiruns without TensorFlow.
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from diffexp.training.results import DivergedError, TrainResult
from diffexp.tuning.trial.job import TrialJob
from diffexp.tuning.trial.reporter import Reporter


def fake_train(cfg: DictConfig, run_dir: Path, reporter: Reporter | None) -> TrainResult:
    task = cfg.task
    number = cfg.tuning.trial_number
    seconds = task.long_epoch_seconds if number in task.long_trials else task.epoch_seconds
    losses = []
    for epoch in range(1, task.epochs + 1):
        time.sleep(seconds)
        loss = (task.x - 0.3) ** 2 + 1.0 / epoch + (10.0 if number in task.bad_trials else 0.0)
        if number in task.nan_trials and epoch == 2:
            loss = math.nan
        if number in task.crash_trials and epoch == 2:
            raise RuntimeError("simulated crash in the trainer")
        if number in task.die_trials and epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        if not math.isfinite(loss):
            raise DivergedError(epoch, 1, loss)
        losses.append(loss)
        if reporter is not None:
            reporter.report(epoch, loss)
    return TrainResult(
        best_val_loss=min(losses),
        best_epoch=losses.index(min(losses)) + 1,
        final_train_loss=losses[-1],
        training_time_seconds=seconds * task.epochs,
        epochs_completed=task.epochs,
        stop_reason="completed",
        run_dir=run_dir,
    )


@hydra.main(config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    Path(run_dir, "threads.txt").write_text(os.environ.get("DIFFEXP_THREADS", ""))
    Path(run_dir, "slurm_job_id.txt").write_text(os.environ.get("SLURM_JOB_ID", ""))
    return TrialJob.from_config(cfg, run_dir).run(
        lambda reporter: fake_train(cfg, run_dir, reporter)
    )


if __name__ == "__main__":
    main()
