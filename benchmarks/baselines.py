"""The ways of training the same denoiser that diffexp's compiled step is compared with:
Keras' own `Model.fit` (the loss in a `train_step` override, batches from tf.data) as a user
calls it first (one step per call, no XLA) and as a user who tunes it would (the same
`steps_per_execution` and `jit_compile` as diffexp's trainer: the fair baseline), and a plain
eager `GradientTape` loop. All use the same architecture, batch and optimizer config."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from diffexp.models import NoiseSchedule, build_denoiser
from diffexp.models.detector_prior import PriorValues
from diffexp.training.diffusion_loss import DiffusionObjective
from diffexp.training.optimizers import build_optimizer
from diffexp.training.schedules import ConstantLR


class DenoisingFitModel(keras.Model):
    """The denoiser with the diffusion loss as its `train_step`, so `fit` can train it the way
    the Keras guides recommend for losses that need their own random draws."""

    def __init__(self, denoiser: keras.Model, objective: DiffusionObjective) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.objective = objective

    def call(self, inputs, training=False):
        return self.denoiser(inputs, training=training)

    def train_step(self, data):
        x0, conditions = data
        t = tf.random.uniform([tf.shape(x0)[0]], maxval=self.objective.n_steps, dtype=tf.int32)
        noise = tf.random.normal(tf.shape(x0))
        with tf.GradientTape() as tape:
            loss = self.objective.loss(x0, conditions, t, noise, training=True)
        variables = self.denoiser.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return {"loss": loss}


def _model_and_optimizer(cfg: DictConfig, n_features: int, n_conditions: int, prior=None):
    denoiser = build_denoiser(cfg.model, n_features, n_conditions, prior)
    objective = DiffusionObjective(denoiser, NoiseSchedule.from_config(cfg.diffusion))
    optimizer = build_optimizer(cfg.optimizer, ConstantLR(float(cfg.optimizer.lr)), False)
    return denoiser, objective, optimizer


def fit_runner(
    cfg: DictConfig,
    x: np.ndarray,
    c: np.ndarray,
    batch_size: int,
    steps: int,
    seed: int,
    prior: PriorValues | None = None,
    steps_per_execution: int = 1,
    jit_compile: bool = False,
) -> Callable[[], None]:
    """A callable that trains `steps` batches with `Model.fit` (one epoch per call). The
    defaults are fit's own (one step per call, no XLA); the fair baseline passes the trainer's
    `steps_per_execution` and `jit_compile`. Batches come from a shuffled, repeated, prefetched
    tf.data pipeline over the in-memory arrays, as the Keras guides write it."""
    denoiser, objective, optimizer = _model_and_optimizer(cfg, x.shape[1], c.shape[1], prior)
    model = DenoisingFitModel(denoiser, objective)
    model.compile(
        optimizer=optimizer, steps_per_execution=steps_per_execution, jit_compile=jit_compile
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, c))
        .shuffle(min(len(x), 65536), seed=seed)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    return lambda: model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)


def eager_runner(
    cfg: DictConfig,
    x: np.ndarray,
    c: np.ndarray,
    batch_size: int,
    steps: int,
    seed: int,
    prior: PriorValues | None = None,
) -> Callable[[], None]:
    """A callable that trains `steps` batches op by op, without tf.function."""
    denoiser, objective, optimizer = _model_and_optimizer(cfg, x.shape[1], c.shape[1], prior)
    optimizer.build(denoiser.trainable_variables)
    rng = np.random.default_rng(seed)

    def train() -> None:
        for _ in range(steps):
            index = rng.integers(0, len(x), size=batch_size)
            t = rng.integers(0, objective.n_steps, size=batch_size).astype(np.int32)
            noise = rng.standard_normal((batch_size, x.shape[1])).astype(np.float32)
            with tf.GradientTape() as tape:
                loss = objective.loss(
                    tf.constant(x[index]),
                    tf.constant(c[index]),
                    tf.constant(t),
                    tf.constant(noise),
                    training=True,
                )
            variables = denoiser.trainable_variables
            optimizer.apply(tape.gradient(loss, variables), variables)
            float(loss)

    return train
