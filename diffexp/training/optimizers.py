"""Optimizer construction from the `optimizer` group, using Keras' own features: global-norm
clipping, decoupled weight decay, `gradient_accumulation_steps`, an exponential moving
average of the weights (`use_ema`), and LossScaleOptimizer for float16."""

from __future__ import annotations

import keras
from keras.optimizers.schedules import LearningRateSchedule
from omegaconf import DictConfig

from diffexp.errors import ConfigError
from diffexp.training.schedules import PerOptimizerStep

OPTIMIZER_NAMES = ("adam", "adamw")


def build_optimizer(
    optimizer_cfg: DictConfig,
    schedule: LearningRateSchedule,
    loss_scaling: bool,
    ema_momentum: float | None = None,
) -> keras.optimizers.Optimizer:
    """`ema_momentum` (trainer.ema_momentum): Keras keeps an average of the weights."""
    accumulation = int(optimizer_cfg.accumulation_steps)
    common = {
        "learning_rate": PerOptimizerStep(schedule, accumulation),
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
