"""Builders of a denoiser package a test declares (tests/models/test_denoiser_registry.py):
one that keeps the contract and one for each mistake a plugin author makes."""

from __future__ import annotations

import keras

from diffexp.models.plugin_api import DenoiserSpec, denoiser_inputs


def _model(spec: DenoiserSpec, head) -> keras.Model:
    x_t, t, conditions = denoiser_inputs(spec.n_pmt, spec.n_conditions)
    return keras.Model([x_t, t, conditions], head(x_t))


def good(spec: DenoiserSpec, *, width: int) -> keras.Model:
    return _model(spec, lambda x: keras.layers.Dense(spec.n_pmt)(keras.layers.Dense(width)(x)))


def refuses(spec: DenoiserSpec, *, width: int) -> keras.Model:
    if width % 2:
        raise ValueError(f"width={width} must be even")
    return good(spec, width=width)


def wrong_shape(spec: DenoiserSpec) -> keras.Model:
    return _model(spec, keras.layers.Dense(1))


def nan_output(spec: DenoiserSpec) -> keras.Model:
    return _model(spec, lambda x: keras.ops.log(-keras.ops.abs(x) - 1.0))


def not_a_model(spec: DenoiserSpec) -> str:
    return "a model"
