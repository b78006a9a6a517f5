"""The compiled custom training loop (not `model.fit`): in-graph batch and noise draws from a
checkpointed RNG, Keras gradient accumulation, loss scaling under float16, fast validation,
early stopping, best and resumable checkpoints, and per-epoch records."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from diffexp.models import NoiseSchedule, build_denoiser
from diffexp.training import checkpoints, progress, records
from diffexp.training.diffusion_loss import DiffusionObjective
from diffexp.training.optimizers import build_optimizer, current_learning_rate
from diffexp.training.results import DivergedError, TrainResult
from diffexp.training.schedules import build_schedule
from diffexp.training.validation import build_validator

log = logging.getLogger(__name__)


class EpochReporter(Protocol):
    """Receives the validation loss after each epoch; raises optuna.TrialPruned to stop."""

    def report(self, epoch: int, value: float) -> None: ...


class Trainer:
    """Holds the model, optimizer and data of one run; `fit` trains it, `train_step` is one
    optimizer step (accumulation_steps micro-batches)."""

    def __init__(
        self,
        cfg: DictConfig,
        train_x: np.ndarray,
        train_c: np.ndarray,
        val_x: np.ndarray,
        val_c: np.ndarray,
        run_dir: Path,
        lr_schedule: keras.optimizers.schedules.LearningRateSchedule | None = None,
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.epochs = int(cfg.trainer.epochs)
        self.steps_per_epoch = int(cfg.trainer.steps_per_epoch)
        self.batch_size = int(cfg.trainer.batch_size)
        self.accumulation_steps = int(cfg.optimizer.accumulation_steps)
        self.micro_batch_size = self.batch_size // self.accumulation_steps

        self.model = build_denoiser(cfg.model, train_x.shape[1], train_c.shape[1])
        self.noise_schedule = NoiseSchedule.from_config(cfg.diffusion)
        self.objective = DiffusionObjective(self.model, self.noise_schedule)
        if lr_schedule is None:
            lr_schedule = build_schedule(
                cfg.schedule, float(cfg.optimizer.lr), self.steps_per_epoch, self.epochs
            )
        loss_scaling = keras.mixed_precision.global_policy().name == "mixed_float16"
        self.optimizer = build_optimizer(cfg.optimizer, lr_schedule, loss_scaling)
        self.optimizer.build(self.model.trainable_variables)
        self.rng = tf.random.Generator.from_seed(int(cfg.seed))

        self._train_x = tf.constant(train_x, tf.float32)
        self._train_c = tf.constant(train_c, tf.float32)
        self.validator = build_validator(
            cfg.validation, self.objective, val_x, val_c, self.batch_size, int(cfg.seed) + 1
        )
        jit = bool(cfg.trainer.jit_compile)
        self._compiled_step = tf.function(self._draw_and_step, jit_compile=jit)
        self._compiled_step_on = tf.function(self._step_on, jit_compile=jit)

    @property
    def parameter_count(self) -> int:
        return int(self.model.count_params())

    def _step_on(self, x0, conditions, t, noise) -> tf.Tensor:
        """One optimizer step over stacked micro-batches [accumulation_steps, micro, ...]."""
        variables = self.model.trainable_variables
        total = tf.constant(0.0)
        for i in range(self.accumulation_steps):
            with tf.GradientTape() as tape:
                loss = self.objective.loss(x0[i], conditions[i], t[i], noise[i], training=True)
                scaled = self.optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, variables)
            self.optimizer.apply(grads, variables)
            total += loss
        return total / self.accumulation_steps

    def _draw_and_step(self) -> tf.Tensor:
        shape = [self.accumulation_steps, self.micro_batch_size]
        n_train = tf.shape(self._train_x, out_type=tf.int64)[0]
        index = self.rng.uniform(shape, maxval=n_train, dtype=tf.int64)
        t = self.rng.uniform(shape, maxval=self.noise_schedule.n_steps, dtype=tf.int32)
        noise = self.rng.normal(shape + [self._train_x.shape[1]])
        return self._step_on(
            tf.gather(self._train_x, index), tf.gather(self._train_c, index), t, noise
        )

    def train_step(self) -> float:
        return float(self._compiled_step())

    def step_on(self, x0, conditions, t, noise) -> float:
        """One optimizer step on given micro-batches (used by the accumulation test)."""
        return float(self._compiled_step_on(x0, conditions, t, noise))

    def fit(self, reporter: EpochReporter | None = None, resume: bool = False) -> TrainResult:
        state = checkpoints.TrainingState()
        checkpoints.ensure_free_space(
            self.run_dir, checkpoints.bytes_needed(self.model, self.optimizer)
        )
        if resume:
            state = checkpoints.load_checkpoint(self.run_dir, self.model, self.optimizer, self.rng)
            records.truncate_metrics(self.run_dir, state.epoch)
            log.info("resumed from epoch %d, step %d", state.epoch, state.step)
        early = self.cfg.trainer.early_stopping
        patience = early.patience
        stop_reason = "completed"
        try:
            for epoch in range(state.epoch + 1, self.epochs + 1):
                self._run_epoch(epoch, state, reporter)
                if patience is not None and state.epochs_without_improvement >= int(patience):
                    stop_reason = "early_stopped"
                    log.info("early stopping: no improvement for %d epochs", patience)
                    break
        finally:
            records.plot_training_curves(self.run_dir)
        rows = records.read_metrics(self.run_dir)
        return TrainResult(
            best_val_loss=state.best_val_loss,
            best_epoch=state.best_epoch,
            final_train_loss=rows[-1]["train_loss"] if rows else math.nan,
            training_time_seconds=state.training_time_seconds,
            epochs_completed=state.epoch,
            stop_reason=stop_reason,
            run_dir=self.run_dir,
        )

    def _run_epoch(
        self, epoch: int, state: checkpoints.TrainingState, reporter: EpochReporter | None
    ) -> None:
        started = time.perf_counter()
        losses = []
        steps = progress.epoch_steps(self.steps_per_epoch, epoch, self.epochs)
        for step in steps:
            loss = self.train_step()
            if not math.isfinite(loss):
                raise DivergedError(epoch, state.step + step + 1, loss)
            losses.append(loss)
            progress.set_postfix(steps, loss=loss)
        train_seconds = time.perf_counter() - started
        validation_started = time.perf_counter()
        val_loss = self.validator.validate()
        validation_seconds = time.perf_counter() - validation_started
        if not math.isfinite(val_loss):
            raise DivergedError(epoch, state.step + self.steps_per_epoch, val_loss)

        state.epoch = epoch
        state.step += self.steps_per_epoch
        state.training_time_seconds += time.perf_counter() - started
        min_delta = float(self.cfg.trainer.early_stopping.min_delta)
        if val_loss < state.best_val_loss - min_delta:
            state.best_val_loss = val_loss
            state.best_epoch = epoch
            state.epochs_without_improvement = 0
            checkpoints.save_best_weights(self.run_dir, self.model)
        else:
            state.epochs_without_improvement += 1
        train_loss = float(np.mean(losses))
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "training_time_seconds": round(state.training_time_seconds, 3),
            "samples_per_second": round(self.steps_per_epoch * self.batch_size / train_seconds, 1),
            "learning_rate": current_learning_rate(self.optimizer),
            "validation_seconds": round(validation_seconds, 4),
            "step": state.step,
        }
        records.append_metrics(self.run_dir, row)
        every = int(self.cfg.trainer.checkpoint_every_epochs)
        if epoch % every == 0 or epoch == self.epochs:
            checkpoints.save_checkpoint(self.run_dir, self.model, self.optimizer, self.rng, state)
        log.info(
            "epoch %d/%d  train_loss=%.5f  val_loss=%.5f  lr=%.3g  %.0f samples/s  val %.2fs",
            epoch,
            self.epochs,
            train_loss,
            val_loss,
            row["learning_rate"],
            row["samples_per_second"],
            validation_seconds,
        )
        if reporter is not None:
            reporter.report(epoch, val_loss)
