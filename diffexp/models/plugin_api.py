"""What a denoiser's builder receives and may use: the one import a denoiser package needs
(docs/models.md has the contract and a minimal example).

A builder is `build(spec: DenoiserSpec, *, <its model.* keys>) -> keras.Model`, declared under
the entry-point group `diffexp.denoisers`. It returns a model [x_t [B, n_pmt], t [B],
conditions [B, n_conditions]] -> predicted noise [B, n_pmt]; diffexp trains it, saves its
weights, and rebuilds it by calling the builder again with the run's recorded config.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffexp.errors import ConfigError
from diffexp.models.detector_prior import N_PRIOR_FEATURES, PRIOR_MODES, DetectorPrior, PriorValues
from diffexp.models.embeddings import SinusoidalEmbedding, denoiser_inputs, event_context

__all__ = [
    "DenoiserSpec",
    "SinusoidalEmbedding",
    "denoiser_inputs",
    "detector_prior_features",
    "event_context",
]


@dataclass(frozen=True)
class DenoiserSpec:
    """What the denoiser is built for: the data's sizes and, when the model config has a
    `prior` key other than `none`, the data's detector prior."""

    n_pmt: int  # charge columns of x_t and of the predicted noise
    n_conditions: int  # columns of the (encoded) conditions
    prior: PriorValues | None = None  # the detector prior's constants, when the data give one
    prior_from_weights: bool = False  # a loaded run: the prior's constants come from its weights


def detector_prior_features(spec: DenoiserSpec, conditions, mode: str):
    """The per-PMT detector prior for `model.prior=mode`: [B, n_pmt, F] features from the
    encoded conditions (F = 5 for expectation, 4 for geometry; see DetectorPrior), or None
    for `none`. The prior's constants are non-trainable weights, so they travel with the
    weights file and a rebuilt model gets them back from it."""
    if mode not in PRIOR_MODES:
        raise ConfigError(f"model.prior={mode!r} is unknown: use one of {', '.join(PRIOR_MODES)}")
    if not N_PRIOR_FEATURES[mode]:
        return None
    if spec.prior is None and not spec.prior_from_weights:
        raise ConfigError(
            f"model.prior={mode} needs the detector prior of the data (simulated events): "
            "use model.prior=none for data without one"
        )
    layer = DetectorPrior(  # float32 under any precision policy: distances, exp and log
        spec.n_pmt, spec.n_conditions, mode, name="detector_prior", dtype="float32"
    )
    if spec.prior is not None:
        layer.set_values(spec.prior)
    return layer(conditions)
