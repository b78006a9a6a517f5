"""Reverse-process samplers. DDPM walks the full chain (Ho et al. 2020); DDIM (Song et al.
2021, arXiv:2010.02502) takes a strided subset of steps and is deterministic at eta=0, which
makes 50-step generation good enough for verification at a twentieth of the cost.

Both clip the predicted x_0 to +-`clip_x0` (the data are standardised per PMT, so this is in
standard deviations). Near t = T the cosine schedule has alpha_bar ~ 1e-9, and without the
clip a small error in the predicted noise is amplified ~10^4-fold into x_0 (the usual
"clip_denoised" of DDPM/DDIM implementations)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from diffexp.errors import ConfigError
from diffexp.models.noise_schedule import NoiseSchedule


def _compiled_predictor(model):
    """One traced graph for every step: t is a tensor argument, so nothing retraces."""

    @tf.function(reduce_retracing=True)
    def predict(x, t, conditions):
        steps = tf.fill([tf.shape(x)[0]], t)
        return tf.cast(model([x, steps, conditions], training=False), tf.float32)

    return lambda x, t, conditions: predict(x, tf.constant(t, tf.int32), conditions)


def _in_batches(conditions: np.ndarray, batch_size: int):
    for start in range(0, len(conditions), batch_size):
        yield tf.constant(conditions[start : start + batch_size], tf.float32)


def _clip(x0: tf.Tensor, limit: float | None) -> tf.Tensor:
    return x0 if limit is None else tf.clip_by_value(x0, -limit, limit)


def ddim_timesteps(n_steps_total: int, steps: int) -> np.ndarray:
    """Evenly spaced DDIM steps from T-1 down to 0."""
    if not 1 <= steps <= n_steps_total:
        raise ConfigError(f"steps={steps}: DDIM needs 1 <= steps <= {n_steps_total}")
    return np.unique(np.linspace(0, n_steps_total - 1, steps).round().astype(int))[::-1]


def sample_ddim(
    model,
    schedule: NoiseSchedule,
    conditions: np.ndarray,
    n_features: int,
    steps: int = 50,
    eta: float = 0.0,
    seed: int = 0,
    batch_size: int = 1024,
    clip_x0: float | None = 5.0,
) -> np.ndarray:
    """Generate encoded events for encoded `conditions` [N, k]; returns [N, n_features]."""
    alpha_bars = schedule.alpha_bars
    predict = _compiled_predictor(model)
    timesteps = ddim_timesteps(schedule.n_steps, steps)
    generator = tf.random.Generator.from_seed(seed)
    outputs = []
    for cond in _in_batches(np.asarray(conditions, np.float32), batch_size):
        x = generator.normal([cond.shape[0], n_features])
        for i, t in enumerate(timesteps):
            a_t = float(alpha_bars[t])
            a_prev = float(alpha_bars[timesteps[i + 1]]) if i + 1 < len(timesteps) else 1.0
            eps = predict(x, int(t), cond)
            x0 = _clip((x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t), clip_x0)
            if clip_x0 is not None:  # the noise consistent with the clipped x_0
                eps = (x - np.sqrt(a_t) * x0) / np.sqrt(1 - a_t)
            sigma = eta * np.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
            direction = np.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps
            x = np.sqrt(a_prev) * x0 + direction
            if sigma > 0:
                x = x + sigma * generator.normal(tf.shape(x))
        outputs.append(x.numpy())
    return np.concatenate(outputs, axis=0)


def sample_ddpm(
    model,
    schedule: NoiseSchedule,
    conditions: np.ndarray,
    n_features: int,
    seed: int = 0,
    batch_size: int = 1024,
    clip_x0: float | None = 5.0,
) -> np.ndarray:
    """Ancestral sampling over every step of the chain: x_{t-1} ~ q(x_{t-1} | x_t, x_0) with
    the predicted (clipped) x_0 and posterior variance beta_tilde (Ho et al. eq. 6-7)."""
    betas = schedule.betas
    alpha_bars = schedule.alpha_bars
    predict = _compiled_predictor(model)
    generator = tf.random.Generator.from_seed(seed)
    outputs = []
    for cond in _in_batches(np.asarray(conditions, np.float32), batch_size):
        x = generator.normal([cond.shape[0], n_features])
        for t in range(schedule.n_steps - 1, -1, -1):
            eps = predict(x, t, cond)
            a_t = alpha_bars[t]
            x0 = _clip((x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t), clip_x0)
            if t == 0:
                x = x0
                continue
            a_prev = alpha_bars[t - 1]
            mean = (np.sqrt(a_prev) * betas[t] / (1 - a_t)) * x0 + (
                np.sqrt(1 - betas[t]) * (1 - a_prev) / (1 - a_t)
            ) * x
            variance = betas[t] * (1 - a_prev) / (1 - a_t)
            x = mean + np.sqrt(variance) * generator.normal(tf.shape(x))
        outputs.append(x.numpy())
    return np.concatenate(outputs, axis=0)
