"""A denoiser that looks at each PMT together with its neighbours on its ring.

The simulated detector numbers its PMTs ring by ring (barrel rings, then the end-cap rings),
so neighbouring indices are neighbouring PMTs. Each block convolves along that index with
wrap-around padding (a ring closes on itself), so a PMT's predicted noise can use what its
`kernel_size - 1` neighbours see; the event's context (diffusion time, conditions) enters as a
shift, and the detector prior, where the data give one, is an input of every PMT.

diffexp calls `build(spec, **model_keys)` with the keys of model/ring_conv.yaml; `channels`
and `kernel_size` are this denoiser's own, the others mean what they mean for diffexp's.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from diffexp.models.plugin_api import (
    DenoiserSpec,
    denoiser_inputs,
    detector_prior_features,
    event_context,
)


def _ring_block(h, context, channels: int, kernel_size: int, activation: str, index: int):
    """h + conv(h around the ring) + context: [B, n_pmt, channels] -> the same."""
    reach = kernel_size // 2
    padded = ops.concatenate([h[:, -reach:], h, h[:, :reach]], axis=1) if reach else h
    y = layers.Conv1D(channels, kernel_size, name=f"ring{index}_conv")(padded)
    y = y + layers.Dense(channels, name=f"ring{index}_context")(context)[:, None, :]
    y = layers.Activation(activation, name=f"ring{index}_act")(y)
    return h + layers.Dense(channels, name=f"ring{index}_mix")(y)


def build(
    spec: DenoiserSpec,
    *,
    channels: int,
    kernel_size: int,
    n_layers: int,
    t_emb_dim: int,
    activation: str,
    prior: str,
) -> keras.Model:
    """[x_t [B, n_pmt], t [B], conditions [B, k]] -> predicted noise [B, n_pmt]."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size} must be a positive odd number")
    if kernel_size > spec.n_pmt:
        raise ValueError(f"kernel_size={kernel_size} is wider than the {spec.n_pmt} PMTs")
    x_in, t_in, c_in = denoiser_inputs(spec.n_pmt, spec.n_conditions)
    context = event_context(t_in, c_in, t_emb_dim, channels, activation)

    per_pmt = [ops.expand_dims(x_in, -1)]
    prior_features = detector_prior_features(spec, c_in, prior)
    if prior_features is not None:
        per_pmt.append(prior_features)
    h = layers.Concatenate(axis=-1, name="pmt_inputs")(per_pmt) if len(per_pmt) > 1 else per_pmt[0]
    h = layers.Dense(channels, name="input_projection")(h)
    pmt_index = ops.zeros_like(x_in, dtype="int32") + ops.arange(spec.n_pmt, dtype="int32")
    h = h + layers.Embedding(spec.n_pmt, channels, name="pmt_identity")(pmt_index)
    for index in range(n_layers):
        h = _ring_block(h, context, channels, kernel_size, activation, index)
    h = layers.Activation(activation, name="output_act")(h)
    out = layers.Dense(1, dtype="float32", name="noise_prediction")(h)
    return keras.Model([x_in, t_in, c_in], ops.squeeze(out, -1), name="ring_conv_denoiser")
