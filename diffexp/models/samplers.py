"""Reverse-process samplers. DDPM walks the full chain (Ho et al. 2020); DDIM (Song et al.
2021, arXiv:2010.02502) takes a strided subset of steps and is deterministic at eta=0, which
makes 50-step generation good enough for verification at a twentieth of the cost."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

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


def ddim_timesteps(n_steps_total: int, steps: int) -> np.ndarray:
    """Evenly spaced DDIM steps from T-1 down to 0."""
    if not 1 <= steps <= n_steps_total:
        raise ValueError(f"steps={steps}: DDIM needs 1 <= steps <= {n_steps_total}")
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
            x0 = (x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
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
) -> np.ndarray:
    """Ancestral sampling over every step of the chain (posterior variance beta_tilde)."""
    betas = schedule.betas
    alpha_bars = schedule.alpha_bars
    predict = _compiled_predictor(model)
    generator = tf.random.Generator.from_seed(seed)
    outputs = []
    for cond in _in_batches(np.asarray(conditions, np.float32), batch_size):
        x = generator.normal([cond.shape[0], n_features])
        for t in range(schedule.n_steps - 1, -1, -1):
            eps = predict(x, t, cond)
            alpha = 1.0 - betas[t]
            mean = (x - betas[t] / np.sqrt(1 - alpha_bars[t]) * eps) / np.sqrt(alpha)
            if t > 0:
                variance = betas[t] * (1 - alpha_bars[t - 1]) / (1 - alpha_bars[t])
                x = mean + np.sqrt(variance) * generator.normal(tf.shape(x))
            else:
                x = mean
        outputs.append(x.numpy())
    return np.concatenate(outputs, axis=0)
