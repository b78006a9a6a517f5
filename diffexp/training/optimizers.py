"""Optimizer construction from the `optimizer` group, using Keras' own features: global-norm
clipping, decoupled weight decay, `gradient_accumulation_steps`, an exponential moving
average of the weights (`use_ema`), and LossScaleOptimizer for float16.

Given the run's length (`schedule_steps`), the optimizer takes the learning rate from a table
in a variable (`TabulatedLR`) and AdamW its weight decay from a variable, so a warm worker
can give a compiled train step the next trial's numbers (`assign_trial_hyperparameters`)
instead of tracing it again."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras.optimizers.schedules import LearningRateSchedule
from omegaconf import DictConfig

from diffexp.errors import ConfigError
from diffexp.training.schedules import PerOptimizerStep, TabulatedLR, schedule_values

OPTIMIZER_NAMES = ("adam", "adamw")


def build_optimizer(
    optimizer_cfg: DictConfig,
    schedule: LearningRateSchedule,
    loss_scaling: bool,
    schedule_steps: int | None = None,
    ema_momentum: float | None = None,
) -> keras.optimizers.Optimizer:
    """The configured optimizer; with `schedule_steps` (the run's optimizer steps) its learning
    rate and weight decay are variables, otherwise `schedule` runs in the graph.
    `ema_momentum` (trainer.ema_momentum): Keras keeps an average of the weights."""
    accumulation = int(optimizer_cfg.accumulation_steps)
    if schedule_steps is None:
        learning_rate = PerOptimizerStep(schedule, accumulation)
    else:
        learning_rate = TabulatedLR(schedule_values(schedule, schedule_steps), accumulation)
    common = {
        "learning_rate": learning_rate,
        "beta_1": float(optimizer_cfg.beta_1),
        "beta_2": float(optimizer_cfg.beta_2),
        "epsilon": float(optimizer_cfg.epsilon),
        "global_clipnorm": (
            float(optimizer_cfg.gradient_clip) if optimizer_cfg.gradient_clip else None
        ),
        "gradient_accumulation_steps": accumulation if accumulation > 1 else None,
        **ema_arguments(ema_momentum),
    }
    name = str(optimizer_cfg.name)
    if name == "adam":
        optimizer = keras.optimizers.Adam(**common)
    elif name == "adamw":
        optimizer = keras.optimizers.AdamW(weight_decay=float(optimizer_cfg.weight_decay), **common)
        if schedule_steps is not None:  # read by the step as a variable (Keras casts it)
            optimizer.weight_decay = tf.Variable(optimizer.weight_decay, trainable=False)
    else:
        raise ConfigError(f"optimizer.name={name!r}: use one of {', '.join(OPTIMIZER_NAMES)}")
    if loss_scaling:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def ema_arguments(momentum: float | None) -> dict:
    """Keras' weight averaging (`use_ema`) for `trainer.ema_momentum`; none when null."""
    if momentum is None:
        return {}
    return {"use_ema": True, "ema_momentum": float(momentum)}


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The LR the next optimizer step will use."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return float(inner._get_current_learning_rate())


def assign_trial_hyperparameters(
    optimizer: keras.optimizers.Optimizer,
    optimizer_cfg: DictConfig,
    schedule: LearningRateSchedule,
    schedule_steps: int,
) -> None:
    """Give an optimizer built with `schedule_steps` another trial's learning rates (any
    schedule) and weight decay; the other settings are fixed in its graph (the trainer
    cache's shape key)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    inner._learning_rate.assign(schedule_values(schedule, schedule_steps))
    if isinstance(inner.weight_decay, tf.Variable):
        inner.weight_decay.assign(float(optimizer_cfg.weight_decay))
