"""The mistakes a denoiser's author meets, each caught before any training step as one line
that names the denoiser (and its package) and what is wrong: a `model.*` key the builder does
not take or a key it needs and the config lacks, a builder that fails on the keys it is given,
and a model that does not predict one finite value per PMT."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf

from diffexp.errors import ConfigError, UserError
from diffexp.models.plugin_api import DenoiserSpec
from diffexp.registry import DenoiserEntry

# Keys diffexp reads itself: `name` selects the builder and is never passed; the charge
# encoding's `no_hit_log_charge` is passed only to a builder that declares it.
SELECTOR_KEY = "name"
ENCODING_KEYS = frozenset({"no_hit_log_charge"})
PROBE_EVENTS = 2


class DenoiserError(ConfigError):
    """A denoiser that cannot be built from its `model.*` keys, or whose model breaks the
    contract (docs/models.md)."""


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def load_builder(entry: DenoiserEntry) -> Callable[..., Any]:
    """The builder the entry point names; a package whose code cannot be imported (broken or
    half-uninstalled) is one line saying which to reinstall."""
    try:
        builder = entry.load()
    except (ImportError, AttributeError) as error:
        raise DenoiserError(
            f"{entry}: its entry point {entry.target} cannot be loaded ({first_line(error)}); "
            f"reinstall {entry.package}"
        ) from error
    if not callable(builder):
        raise DenoiserError(f"{entry}: its entry point {entry.target} is not a function")
    return builder


def builder_keys(builder: Callable[..., Any], model_cfg: DictConfig, entry: DenoiserEntry) -> dict:
    """The `model.*` keys to pass to `builder` as keyword arguments, checked against its
    signature: every key it does not take and every key it needs but lacks is refused."""
    keys = OmegaConf.to_container(model_cfg, resolve=True)
    keys.pop(SELECTOR_KEY, None)
    parameters = list(inspect.signature(builder).parameters.values())[1:]  # [0] takes the spec
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
    named = [p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not takes_any:
        keys = {k: v for k, v in keys.items() if k in named or k not in ENCODING_KEYS}
        for key in keys:
            if key not in named:
                raise DenoiserError(
                    f"{entry} takes no key model.{key}; its keys: {', '.join(named) or 'none'} "
                    f"(remove model.{key} or correct its spelling)"
                )
    required = [p.name for p in parameters if p.name in named and p.default is p.empty]
    for name in required:
        if name not in keys:
            raise DenoiserError(
                f"{entry} needs model.{name}, which the config does not set: add it to the "
                f"denoiser's model/<option>.yaml or pass +model.{name}=<value>"
            )
    return keys


def call_builder(
    builder: Callable[..., Any], spec: DenoiserSpec, keys: dict, entry: DenoiserEntry
) -> keras.Model:
    """`builder(spec, **keys)`; a builder that refuses its keys (ValueError, TypeError,
    KeyError or a diffexp error) is one line, any other exception is a bug and keeps its
    traceback."""
    try:
        model = builder(spec, **keys)
    except (UserError, ValueError, TypeError, KeyError) as error:
        given = ", ".join(f"model.{k}={v!r}" for k, v in keys.items())
        raise DenoiserError(
            f"{entry} cannot be built with {given or 'no keys'}: {first_line(error)}"
        ) from error
    if not isinstance(model, keras.Model):
        raise DenoiserError(f"{entry} returned {type(model).__name__}, not a keras.Model")
    return model


def check_output(model: keras.Model, entry: DenoiserEntry, spec: DenoiserSpec) -> None:
    """Call the model once on ordinary inputs (standard-normal x_t, the mean conditions, the
    first diffusion steps) and refuse what training would only find out later: a call that
    fails, a prediction of the wrong shape, NaN or inf."""
    rng = np.random.default_rng(0)
    x_t = rng.standard_normal((PROBE_EVENTS, spec.n_pmt)).astype(np.float32)
    t = np.arange(PROBE_EVENTS, dtype=np.int32)
    conditions = np.zeros((PROBE_EVENTS, spec.n_conditions), np.float32)
    shown = f"[x_t {list(x_t.shape)}, t {list(t.shape)}, conditions {list(conditions.shape)}]"
    try:
        prediction = keras.ops.convert_to_numpy(model([x_t, t, conditions], training=False))
    except (ValueError, TypeError, KeyError) as error:
        raise DenoiserError(f"{entry} cannot be called on {shown}: {first_line(error)}") from error
    expected = (PROBE_EVENTS, spec.n_pmt)
    if tuple(prediction.shape) != expected:
        raise DenoiserError(
            f"{entry} predicts shape {tuple(prediction.shape)} from {shown}; it must predict "
            f"the noise of each PMT, shape {expected}"
        )
    bad = int(np.size(prediction) - np.isfinite(prediction).sum())
    if bad:
        raise DenoiserError(
            f"{entry} predicts {bad} of {prediction.size} values NaN or inf from {shown}; "
            "look for a log, division or exp of an unbounded value in its layers"
        )
