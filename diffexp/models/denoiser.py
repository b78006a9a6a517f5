"""The epsilon-prediction network: a residual MLP conditioned on diffusion time and event
conditions (vertex, energy). An MLP suits a fixed-length vector of PMT charges; the time
embedding is the sinusoidal one of the Transformer/DDPM papers."""

from __future__ import annotations

import math

import keras
from keras import layers, ops
from omegaconf import DictConfig


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


def _residual_block(h, context, hidden_dim: int, activation: str, dropout: float, index: int):
    y = layers.LayerNormalization(name=f"block{index}_norm")(h)
    y = layers.Dense(hidden_dim, activation=activation, name=f"block{index}_dense1")(y)
    y = y + layers.Dense(hidden_dim, name=f"block{index}_context")(context)
    if dropout > 0:
        y = layers.Dropout(dropout, name=f"block{index}_dropout")(y)
    y = layers.Dense(hidden_dim, name=f"block{index}_dense2")(y)
    return h + y


def build_denoiser(model_cfg: DictConfig, n_features: int, n_conditions: int) -> keras.Model:
    """Functional Keras model [x_t, t, conditions] -> predicted noise (float32 output even under
    a mixed-precision policy, so the loss is computed in float32)."""
    hidden_dim = int(model_cfg.hidden_dim)
    activation = str(model_cfg.activation)
    x_in = keras.Input((n_features,), name="x_t")
    t_in = keras.Input((), dtype="int32", name="t")
    c_in = keras.Input((n_conditions,), name="conditions")

    t_emb = SinusoidalEmbedding(int(model_cfg.t_emb_dim), name="time_embedding")(t_in)
    context = layers.Concatenate(name="context_concat")([t_emb, c_in])
    context = layers.Dense(hidden_dim, activation=activation, name="context_dense1")(context)
    context = layers.Dense(hidden_dim, activation=activation, name="context_dense2")(context)

    h = layers.Dense(hidden_dim, name="input_projection")(x_in)
    for index in range(int(model_cfg.n_layers)):
        h = _residual_block(h, context, hidden_dim, activation, float(model_cfg.dropout), index)
    h = layers.LayerNormalization(name="output_norm")(h)
    out = layers.Dense(n_features, dtype="float32", name="noise_prediction")(h)
    return keras.Model([x_in, t_in, c_in], out, name="denoiser")
