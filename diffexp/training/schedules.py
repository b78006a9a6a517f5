"""Learning-rate schedules, all counted in optimizer steps (not micro-batches).

Keras' built-in CosineDecay (with warmup) and CosineDecayRestarts are used as they are.
Smith's cyclical LR (arXiv:1506.01186) has no maintained Keras 3 implementation, so it is
here. Keras optimizers feed schedules their micro-step counter under gradient accumulation,
so every schedule is wrapped in `PerOptimizerStep`, which divides it back out.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from keras.optimizers.schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    LearningRateSchedule,
)
from omegaconf import DictConfig

from diffexp.errors import ConfigError

SCHEDULE_NAMES = ("constant", "cosine", "cyclical", "cosine_restarts")
CYCLICAL_MODES = ("triangular", "triangular2", "exp_range")


@keras.saving.register_keras_serializable(package="diffexp")
class ConstantLR(LearningRateSchedule):
    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)

    def __call__(self, step):
        return ops.cast(self.learning_rate, "float32") + 0.0 * ops.cast(step, "float32")

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate}


@keras.saving.register_keras_serializable(package="diffexp")
class CyclicalLR(LearningRateSchedule):
    """Triangular cycles between base_lr and max_lr with a half-cycle of `step_size` steps.

    triangular2 halves the amplitude every full cycle; exp_range multiplies it by
    gamma**step. Formula from Smith (2017), section 3.1.
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size: float,
        mode: str = "triangular",
        gamma: float = 1.0,
    ) -> None:
        if mode not in CYCLICAL_MODES:
            raise ConfigError(f"schedule.mode={mode!r}: use one of {', '.join(CYCLICAL_MODES)}")
        self.base_lr = float(base_lr)
        self.max_lr = float(max_lr)
        self.step_size = float(step_size)
        self.mode = mode
        self.gamma = float(gamma)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        cycle = ops.floor(1.0 + step / (2.0 * self.step_size))
        x = ops.abs(step / self.step_size - 2.0 * cycle + 1.0)
        amplitude = (self.max_lr - self.base_lr) * ops.maximum(0.0, 1.0 - x)
        if self.mode == "triangular2":
            amplitude = amplitude / ops.power(2.0, cycle - 1.0)
        elif self.mode == "exp_range":
            amplitude = amplitude * ops.power(self.gamma, step)
        return self.base_lr + amplitude

    def get_config(self) -> dict:
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size": self.step_size,
            "mode": self.mode,
            "gamma": self.gamma,
        }


@keras.saving.register_keras_serializable(package="diffexp")
class PerOptimizerStep(LearningRateSchedule):
    """Evaluates `schedule` at micro_step // accumulation_steps (the optimizer-step count)."""

    def __init__(self, schedule: LearningRateSchedule, accumulation_steps: int) -> None:
        self.schedule = schedule
        self.accumulation_steps = int(accumulation_steps)

    def __call__(self, step):
        return self.schedule(ops.floor_divide(step, self.accumulation_steps))

    def get_config(self) -> dict:
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "accumulation_steps": self.accumulation_steps,
        }

    @classmethod
    def from_config(cls, config: dict) -> PerOptimizerStep:
        schedule = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(schedule, config["accumulation_steps"])


@keras.saving.register_keras_serializable(package="diffexp")
class TabulatedLR(LearningRateSchedule):
    """A schedule's values per optimizer step, in a variable (`assign` a new table without a
    retrace: the table's length is left open in the graph). Reads table[micro_step //
    accumulation_steps], the last value past the end."""

    def __init__(self, values, accumulation_steps: int = 1) -> None:
        self.table = tf.Variable(
            np.asarray(values, np.float32), trainable=False, shape=tf.TensorShape([None])
        )
        self.accumulation_steps = int(accumulation_steps)

    def assign(self, values: np.ndarray) -> None:
        self.table.assign(np.asarray(values, np.float32))

    def __call__(self, step):
        index = ops.floor_divide(ops.cast(step, "int64"), self.accumulation_steps)
        last = ops.cast(ops.shape(self.table)[0] - 1, "int64")
        return ops.take(self.table, ops.minimum(index, last))

    def get_config(self) -> dict:
        return {
            "values": self.table.numpy().tolist(),
            "accumulation_steps": self.accumulation_steps,
        }


def schedule_values(schedule: LearningRateSchedule, n_steps: int) -> np.ndarray:
    """`schedule` at optimizer steps 0 .. n_steps (the last is the value reported after the
    run's final step), evaluated as the optimizer would, step by step in float32: vectorised
    so that a schedule with a branch per step (warm-up) runs as one small call."""
    steps = tf.range(max(1, n_steps) + 1, dtype=tf.int64)
    return tf.vectorized_map(schedule, steps).numpy().astype(np.float32)


def build_schedule(
    schedule_cfg: DictConfig, peak_lr: float, steps_per_epoch: int, epochs: int
) -> LearningRateSchedule:
    """The schedule named by `schedule.name`, in optimizer steps."""
    name = str(schedule_cfg.name)
    total_steps = max(1, steps_per_epoch * epochs)
    if name == "constant":
        return ConstantLR(peak_lr)
    if name == "cosine":
        warmup_steps = int(round(float(schedule_cfg.warmup_fraction) * total_steps))
        start_lr = peak_lr if warmup_steps == 0 else 0.0
        return CosineDecay(
            initial_learning_rate=start_lr,
            decay_steps=max(1, total_steps - warmup_steps),
            alpha=float(schedule_cfg.alpha),
            warmup_target=peak_lr if warmup_steps else None,
            warmup_steps=warmup_steps,
        )
    if name == "cyclical":
        return CyclicalLR(
            base_lr=peak_lr * float(schedule_cfg.base_lr_fraction),
            max_lr=peak_lr,
            step_size=max(1.0, float(schedule_cfg.step_size_epochs) * steps_per_epoch),
            mode=str(schedule_cfg.mode),
            gamma=float(schedule_cfg.gamma),
        )
    if name == "cosine_restarts":
        return CosineDecayRestarts(
            initial_learning_rate=peak_lr,
            first_decay_steps=max(1, int(float(schedule_cfg.first_decay_epochs) * steps_per_epoch)),
            t_mul=float(schedule_cfg.t_mul),
            m_mul=float(schedule_cfg.m_mul),
            alpha=float(schedule_cfg.alpha),
        )
    raise ConfigError(f"schedule.name={name!r}: use one of {', '.join(SCHEDULE_NAMES)}")


def exponential_ramp(min_lr: float, max_lr: float, n_steps: int) -> LearningRateSchedule:
    """The LR range test's ramp: min_lr * (max_lr/min_lr)**(step/n_steps), i.e. Keras'
    ExponentialDecay with a rate above one."""
    return ExponentialDecay(
        initial_learning_rate=min_lr, decay_steps=max(1, n_steps), decay_rate=max_lr / min_lr
    )
