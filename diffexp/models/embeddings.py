"""The sinusoidal diffusion-time embedding of the Transformer/DDPM papers, shared by the
denoisers."""

from __future__ import annotations

import math

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="diffexp")
class SinusoidalEmbedding(layers.Layer):
    """Maps an integer step t to [sin(t w_k), cos(t w_k)] with geometric frequencies."""

    def __init__(self, dim: int, max_period: float = 10000.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if dim < 2 or dim % 2:
            raise ValueError(f"model.t_emb_dim={dim}: must be an even number >= 2")
        self.dim = dim
        self.max_period = max_period

    def call(self, t):
        half = self.dim // 2
        exponents = ops.arange(half, dtype="float32") / half
        frequencies = ops.exp(-math.log(self.max_period) * exponents)
        angles = ops.cast(ops.reshape(t, (-1, 1)), "float32") * frequencies[None, :]
        embedding = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
        return ops.cast(embedding, self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}
