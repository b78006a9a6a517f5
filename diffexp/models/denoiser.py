"""Build the denoiser `model.name` names, whichever package declares it: diffexp's own `mlp`
and `pmt` and a user's denoiser are found the same way (diffexp.registry, entry-point group
`diffexp.denoisers`) and held to the same contract (docs/models.md), checked here before any
training step (plugin_checks)."""

from __future__ import annotations

import keras
from omegaconf import DictConfig

from diffexp.models.detector_prior import PriorValues
from diffexp.models.plugin_api import DenoiserSpec
from diffexp.models.plugin_checks import builder_keys, call_builder, check_output, load_builder
from diffexp.registry import denoiser_entry


def build_denoiser(
    model_cfg: DictConfig,
    n_features: int,
    n_conditions: int,
    prior: PriorValues | None = None,
    prior_from_weights: bool = False,
) -> keras.Model:
    """The checked model [x_t, t, conditions] -> predicted noise. `prior` sets the detector
    prior's constants when a run starts; a loaded run gets them from its weights file
    (`prior_from_weights`), so its output is checked by the loader once the weights are in."""
    entry = denoiser_entry(str(model_cfg.name))
    builder = load_builder(entry)
    spec = DenoiserSpec(int(n_features), int(n_conditions), prior, prior_from_weights)
    model = call_builder(builder, spec, builder_keys(builder, model_cfg, entry), entry)
    if not prior_from_weights:
        check_output(model, entry, spec)
    return model


def check_denoiser_keys(model_cfg: DictConfig) -> None:
    """The `model.*` keys against the parameters of the builder `model.name` names, without
    building anything: the command line of a single run is refused before Hydra writes its
    run folder (importing the builder's package costs nothing there: the run imports it next)."""
    entry = denoiser_entry(str(model_cfg.name))
    builder_keys(load_builder(entry), model_cfg, entry)
