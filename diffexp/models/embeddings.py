"""What both denoisers share: their inputs, the sinusoidal diffusion-time embedding of the
Transformer/DDPM papers, and the event context built from it and the conditions. The layer
names are part of the weights files, so they stay as they are."""

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


def denoiser_inputs(n_features: int, n_conditions: int):
    """The Keras inputs every denoiser takes: [x_t [B, n_features], t [B], conditions [B, k]]."""
    x_in = keras.Input((n_features,), name="x_t")
    t_in = keras.Input((), dtype="int32", name="t")
    c_in = keras.Input((n_conditions,), name="conditions")
    return x_in, t_in, c_in


def event_context(t_in, c_in, t_emb_dim: int, hidden_dim: int, activation: str):
    """[B, hidden_dim]: diffusion time and conditions through two dense layers."""
    t_emb = SinusoidalEmbedding(t_emb_dim, name="time_embedding")(t_in)
    context = layers.Concatenate(name="context_concat")([t_emb, c_in])
    context = layers.Dense(hidden_dim, activation=activation, name="context_dense1")(context)
    return layers.Dense(hidden_dim, activation=activation, name="context_dense2")(context)
