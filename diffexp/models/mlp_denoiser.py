"""The whole-event denoiser (`model=mlp`): a residual MLP conditioned on diffusion time and
event conditions (vertex, energy). An MLP suits a fixed-length vector of PMT charges; the time
embedding is the sinusoidal one of the Transformer/DDPM papers. Registered as `mlp` under the
`diffexp.denoisers` entry points in diffexp's pyproject.toml, like any user's denoiser."""

from __future__ import annotations

import keras
from keras import layers

from diffexp.models.plugin_api import DenoiserSpec, denoiser_inputs, event_context


def _residual_block(h, context, hidden_dim: int, activation: str, dropout: float, index: int):
    y = layers.LayerNormalization(name=f"block{index}_norm")(h)
    y = layers.Dense(hidden_dim, activation=activation, name=f"block{index}_dense1")(y)
    y = y + layers.Dense(hidden_dim, name=f"block{index}_context")(context)
    if dropout > 0:
        y = layers.Dropout(dropout, name=f"block{index}_dropout")(y)
    y = layers.Dense(hidden_dim, name=f"block{index}_dense2")(y)
    return h + y


def build(
    spec: DenoiserSpec,
    *,
    hidden_dim: int,
    n_layers: int,
    t_emb_dim: int,
    dropout: float,
    activation: str,
) -> keras.Model:
    """Functional Keras model [x_t, t, conditions] -> predicted noise (float32 output even under
    a mixed-precision policy, so the loss is computed in float32)."""
    hidden_dim, activation = int(hidden_dim), str(activation)
    x_in, t_in, c_in = denoiser_inputs(spec.n_pmt, spec.n_conditions)
    context = event_context(t_in, c_in, int(t_emb_dim), hidden_dim, activation)

    h = layers.Dense(hidden_dim, name="input_projection")(x_in)
    for index in range(int(n_layers)):
        h = _residual_block(h, context, hidden_dim, activation, float(dropout), index)
    h = layers.LayerNormalization(name="output_norm")(h)
    out = layers.Dense(spec.n_pmt, dtype="float32", name="noise_prediction")(h)
    return keras.Model([x_in, t_in, c_in], out, name="denoiser")
