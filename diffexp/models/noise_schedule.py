"""DDPM forward process: the beta schedule and the closed-form noising q(x_t | x_0).

Linear betas follow Ho et al. 2020 (arXiv:2006.11239); the cosine schedule follows Nichol &
Dhariwal 2021 (arXiv:2102.09672), which keeps more signal at small t for short chains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig


def _cosine_betas(n_steps: int, s: float) -> np.ndarray:
    steps = np.arange(n_steps + 1, dtype=np.float64) / n_steps
    alpha_bar = np.cos((steps + s) / (1 + s) * np.pi / 2) ** 2
    betas = 1.0 - alpha_bar[1:] / alpha_bar[:-1]
    return np.clip(betas, 1e-8, 0.999)


@dataclass(frozen=True)
class NoiseSchedule:
    """Precomputed per-step coefficients; index t runs from 0 (least noise) to n_steps - 1."""

    betas: np.ndarray

    @classmethod
    def from_config(cls, diffusion_cfg: DictConfig) -> NoiseSchedule:
        n_steps = int(diffusion_cfg.n_steps)
        kind = str(diffusion_cfg.beta_schedule)
        if kind == "linear":
            betas = np.linspace(
                float(diffusion_cfg.beta_start), float(diffusion_cfg.beta_end), n_steps
            )
        elif kind == "cosine":
            betas = _cosine_betas(n_steps, float(diffusion_cfg.cosine_s))
        else:
            raise ValueError(f"diffusion.beta_schedule={kind!r}: use 'linear' or 'cosine'")
        return cls(betas=betas.astype(np.float64))

    @property
    def n_steps(self) -> int:
        return int(self.betas.shape[0])

    @property
    def alpha_bars(self) -> np.ndarray:
        return np.cumprod(1.0 - self.betas)

    def coefficient_tables(self) -> tuple[tf.Tensor, tf.Tensor]:
        """sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t) as float32 tensors for graph code."""
        alpha_bars = self.alpha_bars
        return (
            tf.constant(np.sqrt(alpha_bars), tf.float32),
            tf.constant(np.sqrt(1.0 - alpha_bars), tf.float32),
        )


def add_noise(
    x0: tf.Tensor,
    t: tf.Tensor,
    noise: tf.Tensor,
    sqrt_alpha_bars: tf.Tensor,
    sqrt_one_minus_alpha_bars: tf.Tensor,
) -> tf.Tensor:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, batched over t."""
    a = tf.gather(sqrt_alpha_bars, t)[:, None]
    b = tf.gather(sqrt_one_minus_alpha_bars, t)[:, None]
    return a * x0 + b * noise
