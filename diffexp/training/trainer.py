"""The compiled custom training loop (not `model.fit`): in-graph batch and noise draws from a
checkpointed RNG, Keras gradient accumulation, loss scaling under float16, fast validation,
early stopping, best and resumable checkpoints, and per-epoch records."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from diffexp.models import NoiseSchedule, build_denoiser
from diffexp.runtime import xla_enabled
from diffexp.training import checkpoints, progress, records
from diffexp.training.averaging import averaged_weights, warn_if_the_start_remains
from diffexp.training.diffusion_loss import DiffusionObjective
from diffexp.training.optimizers import (
    assign_trial_hyperparameters,
    build_optimizer,
    current_learning_rate,
)
from diffexp.training.preparation import PreparedData
from diffexp.training.results import DivergedError, TrainResult
from diffexp.training.schedules import build_schedule
from diffexp.training.streamed_batches import StepBatches, TrainingStream
from diffexp.training.validation import build_validator

log = logging.getLogger(__name__)


class EpochReporter(Protocol):
    """Receives the validation loss after each epoch; raises optuna.TrialPruned to stop."""

    def report(self, epoch: int, value: float) -> None: ...


class Validator(Protocol):
    """The validation loss of the current weights (FastValidator, NaiveValidator)."""

    def validate(self) -> float: ...

    def redraw(self, x0: np.ndarray, conditions: np.ndarray, seed: int) -> None: ...


# `trainer.jit_compile=auto` turns XLA on for runs of at least this many optimizer steps (or on a
# GPU). Measured on 2 CPU cores at batch 128: XLA takes ~1.2 s longer to compile the step loop
# and then runs a step in ~6 ms instead of ~9 ms, so it pays for itself after ~400-500 steps;
# the margin keeps short trials (phase 1: 500 steps) from ever losing.
XLA_AUTO_MIN_STEPS = 1000
START_WEIGHTS_KEPT = 4  # seeds whose start weights a kept trainer remembers


def resolve_jit_compile(setting: bool | str | None, total_steps: int) -> bool:
    """trainer.jit_compile: true/false as given; auto by the run's length and the device."""
    return xla_enabled(setting, pays_on_cpu=total_steps >= XLA_AUTO_MIN_STEPS)


@dataclass(frozen=True)
class TrainerSettings:
    """The numbers the training loop runs by (conf/trainer, optimizer.accumulation_steps,
    seed); everything else it gets as built objects."""

    epochs: int
    steps_per_epoch: int
    batch_size: int
    accumulation_steps: int = 1
    steps_per_execution: int = 1
    jit_compile: bool = False
    checkpoint_every_epochs: int = 1
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0
    seed: int = 0
    # trainer.checkpoint_metric=sample_auc: epochs between two measurements of the sample
    # metric, which then chooses the best weights; None: the validation loss chooses them
    sample_metric_every_epochs: int | None = None

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.accumulation_steps

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def graph_settings(self) -> tuple:
        """The settings traced into the compiled step (the rest are read in Python)."""
        return (self.batch_size, self.accumulation_steps, self.jit_compile)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> TrainerSettings:
        trainer = cfg.trainer
        epochs, steps_per_epoch = int(trainer.epochs), int(trainer.steps_per_epoch)
        patience = trainer.early_stopping.patience
        by_samples = trainer.checkpoint_metric == "sample_auc"
        return cls(
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            batch_size=int(trainer.batch_size),
            accumulation_steps=int(cfg.optimizer.accumulation_steps),
            steps_per_execution=int(trainer.steps_per_execution),
            jit_compile=resolve_jit_compile(trainer.jit_compile, epochs * steps_per_epoch),
            checkpoint_every_epochs=int(trainer.checkpoint_every_epochs),
            early_stopping_patience=None if patience is None else int(patience),
            early_stopping_min_delta=float(trainer.early_stopping.min_delta),
            seed=int(cfg.seed),
            sample_metric_every_epochs=(
                int(trainer.sample_metric_every_epochs) if by_samples else None
            ),
        )


def _configured_schedule(
    cfg: DictConfig, settings: TrainerSettings
) -> keras.optimizers.schedules.LearningRateSchedule:
    return build_schedule(
        cfg.schedule, float(cfg.optimizer.lr), settings.steps_per_epoch, settings.epochs
    )


class Trainer:
    """The training loop of one run, built from its parts (as `keras.Model.fit` takes
    objects): `fit` trains, `train_steps` runs optimizer steps, `optimizer_step` is one step
    on given micro-batches. `from_config` builds the parts from a composed config; it is the
    only place the trainer reads the config."""

    def __init__(
        self,
        model: keras.Model,
        objective: DiffusionObjective,
        optimizer: keras.optimizers.Optimizer,
        validator: Validator,
        train_x: np.ndarray,
        train_c: np.ndarray,
        run_dir: Path,
        settings: TrainerSettings,
        stream: TrainingStream | None = None,
        sample_metric: Callable[[keras.Model], float] | None = None,
    ) -> None:
        if settings.sample_metric_every_epochs is not None and sample_metric is None:
            raise ValueError("sample_metric_every_epochs is set but no sample_metric was given")
        self.sample_metric = sample_metric  # lower is better; measured on the averaged weights
        self.model = model
        self.objective = objective
        self.optimizer = optimizer
        self.validator = validator
        self.run_dir = Path(run_dir)
        self.settings = settings
        self.optimizer.build(self.model.trainable_variables)
        # the optimizer's state before its first step (slots, iteration count, loss scale)
        self._optimizer_start = [v.numpy() for v in self.optimizer.variables]
        # seed -> the weights a build of this trainer's model config draws for it (reuse_for)
        self._start_weights: dict[int, list[np.ndarray]] = {}
        self.rng = tf.random.Generator.from_seed(settings.seed)
        self._train_x = tf.constant(train_x, tf.float32)
        self._train_c = tf.constant(train_c, tf.float32)
        self._best_weights: list[np.ndarray] | None = None  # written to disk when fit ends
        self._compiled_steps = tf.function(
            self._draw_and_steps, jit_compile=settings.jit_compile, autograph=False
        )
        # a file read in chunks (data.streaming): batches come from the stream, not the graph
        self._stream = stream
        self._batches: StepBatches | None = None
        batch_shape = [None, settings.accumulation_steps, settings.micro_batch_size]
        self._compiled_stream_steps = tf.function(
            self._steps_on_batches,
            jit_compile=settings.jit_compile,
            autograph=False,
            input_signature=[
                tf.TensorSpec(batch_shape + [train_x.shape[1]], tf.float32),
                tf.TensorSpec(batch_shape + [train_c.shape[1]], tf.float32),
            ],
        )

    @classmethod
    def from_config(
        cls,
        cfg: DictConfig,
        data: PreparedData,
        run_dir: Path,
        lr_schedule: keras.optimizers.schedules.LearningRateSchedule | None = None,
        sample_metric: Callable[[keras.Model], float] | None = None,
    ) -> Trainer:
        """The trainer `cfg` describes, on `data`; `lr_schedule` replaces the configured one
        (the LR range test's ramp); `sample_metric` measures generated events of a model
        (trainer.checkpoint_metric=sample_auc)."""
        settings = TrainerSettings.from_config(cfg)
        model = build_denoiser(cfg.model, data.n_features, data.n_conditions, data.prior)
        objective = DiffusionObjective(model, NoiseSchedule.from_config(cfg.diffusion))
        # the configured schedule as a table in a variable (a reused trainer assigns the next
        # trial's); a given one (the LR range test's ramp) runs in the graph
        schedule_steps = settings.total_steps if lr_schedule is None else None
        if lr_schedule is None:
            lr_schedule = _configured_schedule(cfg, settings)
        loss_scaling = keras.mixed_precision.global_policy().name == "mixed_float16"
        ema_momentum = cfg.trainer.ema_momentum
        optimizer = build_optimizer(
            cfg.optimizer, lr_schedule, loss_scaling, schedule_steps, ema_momentum
        )
        warn_if_the_start_remains(ema_momentum, settings.epochs * settings.steps_per_epoch)
        validator = build_validator(
            cfg.validation,
            objective,
            data.val_x,
            data.val_c,
            settings.batch_size,
            settings.seed + 1,
        )
        trainer = cls(
            model,
            objective,
            optimizer,
            validator,
            data.train_x,
            data.train_c,
            run_dir,
            settings,
            data.stream,
            sample_metric,
        )
        trainer._start_weights[settings.seed] = [v.numpy() for v in model.variables]
        return trainer

    def reuse_for(self, cfg: DictConfig, data: PreparedData, run_dir: Path) -> Trainer:
        """This trainer, compiled functions kept, set to start the run `cfg` describes as
        `from_config` would: the weights a fresh build draws, the optimizer's state before
        its first step, `cfg`'s learning rates and weight decay, the data RNG and the
        validation draws of `cfg.seed`. `cfg` must agree with this trainer on everything
        traced into its graphs (diffexp.training.trainer_cache.shape_key); `data` must be the
        data it was built on."""
        settings = TrainerSettings.from_config(cfg)
        if settings.graph_settings() != self.settings.graph_settings():
            raise ValueError("reuse_for: the new run's batch, accumulation or XLA setting differ")
        start = self._weights_at_start(cfg, data, settings.seed)
        for variable, value in zip(self.model.variables, start, strict=True):
            variable.assign(value)
        for variable, value in zip(self.optimizer.variables, self._optimizer_start, strict=True):
            variable.assign(value)
        assign_trial_hyperparameters(
            self.optimizer, cfg.optimizer, _configured_schedule(cfg, settings), settings.total_steps
        )
        self.rng.reset_from_seed(settings.seed)
        self._stream, self._batches = data.stream, None  # a streamed file: from its start
        self.validator.redraw(data.val_x, data.val_c, settings.seed + 1)
        self.settings = settings
        self.run_dir = Path(run_dir)
        self._best_weights = None
        return self

    def _weights_at_start(self, cfg: DictConfig, data: PreparedData, seed: int) -> list[np.ndarray]:
        """The weights a fresh run of `cfg` starts from. The initializers' seeds are drawn
        from the global seed as the layers are made, so making the layers is the one exact
        way to get them; a trainer's model config is fixed, so a seed met before (a phase-1
        search keeps one seed) takes the weights its build drew then (~0.2 s a trial saved)."""
        if seed not in self._start_weights:
            fresh = build_denoiser(cfg.model, data.n_features, data.n_conditions, data.prior)
            if len(self._start_weights) >= START_WEIGHTS_KEPT:
                self._start_weights.pop(next(iter(self._start_weights)))  # the oldest seed
            self._start_weights[seed] = [v.numpy() for v in fresh.variables]
        return self._start_weights[seed]

    @property
    def tracing_count(self) -> int:
        """Traces of the compiled step loop and of the validation loss so far."""
        validation = getattr(self.validator, "tracing_count", 0)
        steps = (self._compiled_steps, self._compiled_stream_steps)
        return sum(int(f.experimental_get_tracing_count()) for f in steps) + validation

    @property
    def parameter_count(self) -> int:
        return int(self.model.count_params())

    def optimizer_step(self, x0, conditions, t, noise) -> tf.Tensor:
        """One optimizer step over stacked micro-batches [accumulation_steps, micro, ...]
        (traced into the compiled step loop; eager when called directly)."""
        variables = self.model.trainable_variables
        total = tf.constant(0.0)
        for i in range(self.settings.accumulation_steps):
            with tf.GradientTape() as tape:
                loss = self.objective.loss(x0[i], conditions[i], t[i], noise[i], training=True)
                scaled = self.optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, variables)
            self.optimizer.apply(grads, variables)
            total += loss
        return total / self.settings.accumulation_steps

    def _draw_and_step(self) -> tf.Tensor:
        shape = [self.settings.accumulation_steps, self.settings.micro_batch_size]
        n_train = tf.shape(self._train_x, out_type=tf.int64)[0]
        index = self.rng.uniform(shape, maxval=n_train, dtype=tf.int64)
        return self._step_on(tf.gather(self._train_x, index), tf.gather(self._train_c, index))

    def _step_on(self, x0: tf.Tensor, conditions: tf.Tensor) -> tf.Tensor:
        """One optimizer step on the micro-batches `x0`, `conditions` [accumulation, micro,
        ...], the diffusion step t and the noise drawn here, in the graph."""
        shape = [self.settings.accumulation_steps, self.settings.micro_batch_size]
        t = self.rng.uniform(shape, maxval=self.objective.n_steps, dtype=tf.int32)
        noise = self.rng.normal(shape + [x0.shape[-1]])
        return self.optimizer_step(x0, conditions, t, noise)

    def _draw_and_steps(self, n_steps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """`n_steps` optimizer steps in one graph call, so the dispatch of a call with ~130
        captured variables is paid once per chunk (at batch 128 on a CPU: 9.2 instead of 10.5 ms
        a step, and 6.0 instead of 11.1 ms under XLA, which runs single calls badly).
        Returns the sum of the losses and the index of the first non-finite one (-1: none)."""
        return self._repeat_steps(n_steps, lambda i: self._draw_and_step())

    def _steps_on_batches(
        self, x0: tf.Tensor, conditions: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """`_draw_and_steps` on given batches [n_steps, accumulation, micro, ...] (a stream)."""
        return self._repeat_steps(tf.shape(x0)[0], lambda i: self._step_on(x0[i], conditions[i]))

    def _repeat_steps(self, n_steps, step) -> tuple[tf.Tensor, tf.Tensor]:
        """`step(i)` for i < n_steps in a graph loop: (sum of losses, first non-finite or -1)."""

        def body(i, total, first_bad):
            loss = step(i)
            first_bad = tf.where((first_bad < 0) & ~tf.math.is_finite(loss), i, first_bad)
            return i + 1, total + loss, first_bad

        start = (tf.constant(0), tf.constant(0.0), tf.constant(-1))
        _, total, first_bad = tf.while_loop(lambda i, *_: i < n_steps, body, start)
        return total, first_bad

    def train_steps(self, n_steps: int) -> tuple[float, int]:
        """(mean loss of `n_steps` optimizer steps, index of the first non-finite loss or -1);
        one compiled function serves every `n_steps`, so a short last chunk does not retrace
        (streamed: XLA compiles the last chunk's shape once more)."""
        if self._stream is None:
            total, first_bad = self._compiled_steps(tf.constant(n_steps, tf.int32))
        else:
            total, first_bad = self._compiled_stream_steps(
                *self._step_batches().next_steps(n_steps)
            )
        return float(total) / n_steps, int(first_bad)

    def _step_batches(self, start_step: int = 0) -> StepBatches:
        """The stream's batches, opened at the first step (or where a resumed run stopped)."""
        if self._batches is None:
            settings = self.settings
            self._batches = self._stream.step_batches(
                settings.batch_size,
                settings.accumulation_steps,
                settings.steps_per_execution,
                start_step,
            )
        return self._batches

    def chunk_sizes(self, n_steps: int) -> Iterator[int]:
        """`n_steps` split into calls of at most steps_per_execution, as fit runs them."""
        for start in range(0, n_steps, self.settings.steps_per_execution):
            yield min(self.settings.steps_per_execution, n_steps - start)

    def train_step(self) -> float:
        """One optimizer step (the LR range test needs the loss of every step)."""
        return self.train_steps(1)[0]

    def fit(self, reporter: EpochReporter | None = None, resume: bool = False) -> TrainResult:
        state = checkpoints.TrainingState()
        checkpoints.ensure_free_space(
            self.run_dir, checkpoints.bytes_needed(self.model, self.optimizer)
        )
        if resume:
            state, self._best_weights = checkpoints.load_checkpoint(
                self.run_dir, self.model, self.optimizer, self.rng, self.settings.epochs
            )
            records.truncate_metrics(self.run_dir, state.epoch)
            if self._stream is not None:  # continue the stream where the checkpoint was taken
                self._step_batches(start_step=state.step)
            log.info("resumed from epoch %d, step %d", state.epoch, state.step)
        patience = self.settings.early_stopping_patience
        stop_reason = "completed"
        try:
            for epoch in range(state.epoch + 1, self.settings.epochs + 1):
                self._run_epoch(epoch, state, reporter)
                if patience is not None and state.epochs_without_improvement >= patience:
                    stop_reason = "early_stopped"
                    log.info("early stopping: no improvement for %d epochs", patience)
                    break
        except BaseException:
            # pruned, diverged, interrupted: write what there is, but a failing write (a full
            # disk) must not replace the reason the run stopped
            try:
                self._write_final_files()
            except Exception as write_error:  # noqa: BLE001 - the first error is the one to report
                log.error("could not write the best weights or curves: %s", write_error)
            raise
        self._write_final_files()
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

    def _write_final_files(self) -> None:
        self._write_best_weights()
        records.plot_training_curves(self.run_dir)

    def _write_best_weights(self) -> None:
        """best_model.weights.h5 from the in-memory copy, whatever ended the run (completion,
        early stop, pruning, divergence, Ctrl-C); the checkpoint carries the copy until then."""
        if self._best_weights is None:
            return
        current = self.model.get_weights()
        self.model.set_weights(self._best_weights)
        try:
            checkpoints.save_best_weights(self.run_dir, self.model)
        finally:
            self.model.set_weights(current)

    def _train_epoch(self, epoch: int, steps_before: int) -> float:
        """The epoch's optimizer steps in chunks of steps_per_execution; its mean loss."""
        bar = progress.EpochProgress(self.settings.steps_per_epoch, epoch, self.settings.epochs)
        done, loss_sum = 0, 0.0
        try:
            for n in self.chunk_sizes(self.settings.steps_per_epoch):
                mean_loss, first_bad = self.train_steps(n)
                if first_bad >= 0 or not math.isfinite(mean_loss):
                    bad = first_bad if first_bad >= 0 else n - 1
                    raise DivergedError(epoch, steps_before + done + bad + 1, mean_loss)
                done += n
                loss_sum += mean_loss * n
                bar.update(n, mean_loss)
        finally:
            bar.close()
        return loss_sum / self.settings.steps_per_epoch

    def _measure_samples(self, epoch: int, state: checkpoints.TrainingState) -> float | None:
        """The sample metric of the current weights when this epoch is due for one (every
        sample_metric_every_epochs, and the last); its best epoch's weights become the best.
        None when not measured."""
        every = self.settings.sample_metric_every_epochs
        if every is None or (epoch % every and epoch != self.settings.epochs):
            return None
        value = float(self.sample_metric(self.model))
        if value < state.best_sample_metric:
            state.best_sample_metric = value
            state.best_epoch = epoch
            self._best_weights = self.model.get_weights()
        return value

    def _run_epoch(
        self, epoch: int, state: checkpoints.TrainingState, reporter: EpochReporter | None
    ) -> None:
        started = time.perf_counter()
        train_loss = self._train_epoch(epoch, state.step)
        train_seconds = time.perf_counter() - started
        validation_started = time.perf_counter()
        with averaged_weights(self.model, self.optimizer):  # the weights generation will use
            val_loss = self.validator.validate()
            validation_seconds = time.perf_counter() - validation_started
            if not math.isfinite(val_loss):
                raise DivergedError(epoch, state.step + self.settings.steps_per_epoch, val_loss)
            state.epoch = epoch
            state.step += self.settings.steps_per_epoch
            state.training_time_seconds += time.perf_counter() - started
            if val_loss < state.best_val_loss:  # the best loss and weights: any improvement
                state.best_val_loss = val_loss
                if self.settings.sample_metric_every_epochs is None:
                    state.best_epoch = epoch
                    self._best_weights = self.model.get_weights()
            sample_metric = self._measure_samples(epoch, state)
        # patience counts epochs without an improvement of more than min_delta
        if val_loss < state.patience_reference_loss - self.settings.early_stopping_min_delta:
            state.patience_reference_loss = val_loss
            state.epochs_without_improvement = 0
        else:
            state.epochs_without_improvement += 1
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "training_time_seconds": round(state.training_time_seconds, 3),
            "samples_per_second": round(
                self.settings.steps_per_epoch * self.settings.batch_size / train_seconds, 1
            ),
            "learning_rate": current_learning_rate(self.optimizer),
            "validation_seconds": round(validation_seconds, 4),
            "step": state.step,
        }
        if sample_metric is not None:
            row["sample_metric"] = sample_metric
        records.append_metrics(self.run_dir, row)
        every = self.settings.checkpoint_every_epochs
        if epoch % every == 0 or epoch == self.settings.epochs:
            checkpoints.save_checkpoint(
                self.run_dir, self.model, self.optimizer, self.rng, state, self._best_weights
            )
        log.info(
            "epoch %d/%d  train_loss=%.5f  val_loss=%.5f  lr=%.3g  %.0f samples/s  val %.2fs",
            epoch,
            self.settings.epochs,
            train_loss,
            val_loss,
            row["learning_rate"],
            row["samples_per_second"],
            validation_seconds,
        )
        if reporter is not None:
            reporter.report(epoch, val_loss)
