"""The epsilon-prediction network: a residual MLP conditioned on diffusion time and event
conditions (vertex, energy). An MLP suits a fixed-length vector of PMT charges; the time
embedding is the sinusoidal one of the Transformer/DDPM papers."""

from __future__ import annotations

import keras
from keras import layers
from omegaconf import DictConfig

from diffexp.models.detector_prior import PriorValues
from diffexp.models.embeddings import denoiser_inputs, event_context


def _residual_block(h, context, hidden_dim: int, activation: str, dropout: float, index: int):
    y = layers.LayerNormalization(name=f"block{index}_norm")(h)
    y = layers.Dense(hidden_dim, activation=activation, name=f"block{index}_dense1")(y)
    y = y + layers.Dense(hidden_dim, name=f"block{index}_context")(context)
    if dropout > 0:
        y = layers.Dropout(dropout, name=f"block{index}_dropout")(y)
    y = layers.Dense(hidden_dim, name=f"block{index}_dense2")(y)
    return h + y


def build_mlp_denoiser(model_cfg: DictConfig, n_features: int, n_conditions: int) -> keras.Model:
    """Functional Keras model [x_t, t, conditions] -> predicted noise (float32 output even under
    a mixed-precision policy, so the loss is computed in float32)."""
    hidden_dim = int(model_cfg.hidden_dim)
    activation = str(model_cfg.activation)
    x_in, t_in, c_in = denoiser_inputs(n_features, n_conditions)
    context = event_context(t_in, c_in, int(model_cfg.t_emb_dim), hidden_dim, activation)

    h = layers.Dense(hidden_dim, name="input_projection")(x_in)
    for index in range(int(model_cfg.n_layers)):
        h = _residual_block(h, context, hidden_dim, activation, float(model_cfg.dropout), index)
    h = layers.LayerNormalization(name="output_norm")(h)
    out = layers.Dense(n_features, dtype="float32", name="noise_prediction")(h)
    return keras.Model([x_in, t_in, c_in], out, name="denoiser")


def build_denoiser(
    model_cfg: DictConfig,
    n_features: int,
    n_conditions: int,
    prior: PriorValues | None = None,
    prior_from_weights: bool = False,
) -> keras.Model:
    """The denoiser `model.name` names: `mlp` (one network over the whole event) or `pmt` (one
    network shared across PMTs, fed the detector prior). `prior` sets the prior's constants
    when a run starts; a loaded run gets them from its weights file (`prior_from_weights`)."""
    name = str(model_cfg.name)
    if name == "mlp":
        return build_mlp_denoiser(model_cfg, n_features, n_conditions)
    if name == "pmt":
        from diffexp.models.pmt_denoiser import build_pmt_denoiser

        return build_pmt_denoiser(model_cfg, n_features, n_conditions, prior, prior_from_weights)
    raise ValueError(f"model.name={name!r} is unknown: use mlp or pmt")
