"""What each PMT should see, computed inside the network from an event's conditions.

A plain MLP has to learn from scratch how four numbers (vertex, energy) map to 128 charges,
and it learns it only roughly (measured: charge scatter 2-10x Poisson around the expectation,
demo classifier AUC 0.88). The geometry of a detector is known, so the network can be told
it: for every PMT the distance to the vertex, the direction cosine, the solid angle and, where
the light model is known too, the expected photoelectrons

    mu_i = light_yield * efficiency * E * area_i * max(cos theta_i, 0) / (4 pi d_i^2)
           * exp(-d_i / attenuation_length) + dark_noise

(the simulator's formula, `diffexp.data.simulator`; a test keeps the two equal). A user's
own detector brings its geometry (`diffexp.data.user_geometry`) and, having no simulator, a
light model fitted on its training events (`diffexp.models.light_model`) gives mu instead
(`prior=learned`). The prior's constants are non-trainable weights of the layer, so they
travel with every checkpoint and weights file and a loaded run needs nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from diffexp.data import EventTransform
from diffexp.data.config import require, to_plain
from diffexp.data.detector import DetectorDescription, describe_detector
from diffexp.data.errors import DataError
from diffexp.errors import ConfigError
from diffexp.models.light_model import (
    LightModel,
    geometry_features,
    light_mu,
    pmt_geometry,
    weight_shapes,
)

PRIOR_MODES: tuple[str, ...] = ("expectation", "learned", "geometry", "none")
# Features per PMT that each mode adds to the denoiser's per-PMT input.
N_PRIOR_FEATURES: dict[str, int] = {"expectation": 5, "learned": 5, "geometry": 4, "none": 0}


@dataclass(frozen=True)
class PriorValues:
    """The constants of `DetectorPrior`, in the order of the charge columns."""

    positions: np.ndarray  # [n_pmt, 3] m
    normals: np.ndarray  # [n_pmt, 3] unit, into the detector
    areas: np.ndarray  # [n_pmt] m^2
    light_pe_per_mev: float  # light_yield * efficiency (the simulator's; 0 otherwise)
    attenuation_length_m: float
    dark_noise_pe: float
    condition_mean: np.ndarray  # [k] the transform's, to decode the encoded conditions
    condition_std: np.ndarray  # [k]
    charge_mean: np.ndarray  # [n_pmt] the transform's encoded-charge statistics
    charge_std: np.ndarray  # [n_pmt]
    no_hit_log_charge: float  # where the transform puts a PMT without a hit (log space)
    # [k + 1, 4]: (physical conditions, 1) @ selection = (x, y, z, E); E = 1 without energy
    condition_selection: np.ndarray | None = None
    light_model: dict[str, np.ndarray] | None = None  # prior=learned: the fitted arrays
    light_model_geometry: bool = False  # whether the light model was fed the geometry


def condition_selection(
    n_conditions: int, vertex_columns: list[int] | None, energy_column: int | None
) -> np.ndarray:
    """The [k + 1, 4] matrix that picks (x, y, z, E) out of (conditions, 1)."""
    selection = np.zeros((n_conditions + 1, 4))
    for axis, column in enumerate(vertex_columns or []):
        selection[column, axis] = 1.0
    selection[energy_column if energy_column is not None else n_conditions, 3] = 1.0
    return selection


def _check_mode(mode: str, detector: DetectorDescription, source: Any) -> None:
    if mode == "expectation" and not detector.simulated:
        raise DataError(
            f"model.prior=expectation needs the simulator's light model, which "
            f"data.source={source!r} does not have: use model.prior=learned (a light model "
            "fitted on your training events) or model.prior=geometry"
        )
    if mode in ("expectation", "geometry") and not detector.has_geometry:
        what = "a PMT geometry" if detector.geometry is None else "data.vertex_conditions"
        raise DataError(
            f"model.prior={mode} needs {what} (see docs/your-detector.md): give it, or use "
            "model.prior=learned (fitted on the conditions alone) or model.prior=none"
        )


def prior_values(
    data_cfg: Mapping[str, Any],
    transform: EventTransform,
    pmt_ids: np.ndarray | None,
    mode: str = "expectation",
    light_model: LightModel | None = None,
) -> PriorValues:
    """The prior of `mode` for the charge columns `pmt_ids` of the data's detector; a
    one-line error for a mode the data cannot give (`light_model`: needed by learned)."""
    cfg = to_plain(data_cfg)
    detector = describe_detector(cfg, transform.condition_names)
    _check_mode(mode, detector, cfg.get("source"))
    n_conditions = len(transform.condition_names)
    n_pmt = transform.n_pmt
    if detector.geometry is not None:
        ids = np.arange(detector.geometry.n_pmt) if pmt_ids is None else np.asarray(pmt_ids)
        positions = detector.geometry.positions[ids]
        normals, areas = detector.geometry.normals[ids], detector.geometry.areas[ids]
    else:  # harmless constants: the learned prior then uses the conditions alone
        positions, normals = np.zeros((n_pmt, 3)), np.tile([0.0, 0.0, 1.0], (n_pmt, 1))
        areas = np.ones(n_pmt)
    light, attenuation, dark = 0.0, 1.0, 0.0
    if mode == "expectation":
        physics = require(cfg, "physics")
        light = float(physics["light_yield_pe_per_mev"]) * float(physics["efficiency"])
        attenuation = float(physics["attenuation_length_m"])
        dark = float(physics["dark_noise_pe"])
    if mode == "learned" and light_model is None:
        raise ConfigError("model.prior=learned needs the fitted light model")
    return PriorValues(
        positions=positions,
        normals=normals,
        areas=areas,
        light_pe_per_mev=light,
        attenuation_length_m=attenuation,
        dark_noise_pe=dark,
        condition_mean=transform.condition_mean,
        condition_std=transform.condition_std,
        charge_mean=transform.charge_mean,
        charge_std=transform.charge_std,
        no_hit_log_charge=transform.no_hit_log_charge,
        condition_selection=condition_selection(
            n_conditions, detector.vertex_columns, detector.energy_column
        ),
        light_model=None if light_model is None else light_model.weights,
        light_model_geometry=bool(light_model is not None and light_model.uses_geometry),
    )


@keras.saving.register_keras_serializable(package="diffexp")
class DetectorPrior(layers.Layer):
    """Encoded conditions [B, k] -> per-PMT features [B, n_pmt, N_PRIOR_FEATURES[mode]].

    geometry:    log d, cos theta, log solid-angle fraction, log E (all roughly unit scale)
    expectation: log mu, the expected charge in the model's encoded units (what the network
                 should predict on average), the per-PMT encoding scale, the Poisson width
                 of that expectation in encoded units, and the hit probability.
    learned:     the same channels as expectation, mu from the fitted light model.
    """

    def __init__(self, n_pmt: int, n_conditions: int, mode: str, **kwargs) -> None:
        super().__init__(**kwargs)
        if mode not in PRIOR_MODES or mode == "none":
            raise ConfigError(f"DetectorPrior mode {mode!r}: use expectation, learned or geometry")
        self.n_pmt, self.n_conditions, self.mode = int(n_pmt), int(n_conditions), mode
        constant = {"trainable": False, "initializer": "zeros"}
        self.positions = self.add_weight((n_pmt, 3), name="positions", **constant)
        self.normals = self.add_weight((n_pmt, 3), name="normals", **constant)
        self.areas = self.add_weight((n_pmt,), name="areas", **constant)
        self.physics = self.add_weight((4,), name="physics", **constant)
        self.condition_mean = self.add_weight((n_conditions,), name="condition_mean", **constant)
        self.condition_std = self.add_weight((n_conditions,), name="condition_std", **constant)
        self.charge_mean = self.add_weight((n_pmt,), name="charge_mean", **constant)
        self.charge_std = self.add_weight((n_pmt,), name="charge_std", **constant)
        self.selection = self.add_weight(
            (n_conditions + 1, 4), name="condition_selection", **constant
        )
        self.light = {}
        if mode == "learned":
            self.light = {
                name: self.add_weight(shape, name=f"light_{name}", **constant)
                for name, shape in weight_shapes(n_pmt, n_conditions).items()
            }
            self.light_geometry = self.add_weight((), name="light_geometry", **constant)

    def set_values(self, values: PriorValues) -> None:
        if values.positions.shape != (self.n_pmt, 3):
            raise ConfigError(f"prior for {len(values.positions)} PMTs, model has {self.n_pmt}")
        self.positions.assign(values.positions.astype(np.float32))
        self.normals.assign(values.normals.astype(np.float32))
        self.areas.assign(values.areas.astype(np.float32))
        physics = [
            values.light_pe_per_mev,
            values.attenuation_length_m,
            values.dark_noise_pe,
            values.no_hit_log_charge,
        ]
        self.physics.assign(np.asarray(physics, np.float32))
        self.condition_mean.assign(values.condition_mean.astype(np.float32))
        self.condition_std.assign(values.condition_std.astype(np.float32))
        self.charge_mean.assign(values.charge_mean.astype(np.float32))
        self.charge_std.assign(values.charge_std.astype(np.float32))
        selection = values.condition_selection
        if selection is None:
            selection = condition_selection(self.n_conditions, [0, 1, 2], 3)
        self.selection.assign(np.asarray(selection, np.float32))
        if self.mode == "learned":
            if values.light_model is None:
                raise ConfigError("model.prior=learned needs the fitted light model")
            for name, weight in self.light.items():
                weight.assign(np.asarray(values.light_model[name], np.float32))
            self.light_geometry.assign(float(values.light_model_geometry))

    def _vertex_energy(self, physical):
        """(x, y, z) [B, 3] and E [B, 1] picked out of the physical conditions [B, k]."""
        ones = ops.ones_like(physical[:, :1])
        picked = ops.matmul(ops.concatenate([physical, ones], axis=-1), self.selection)
        return picked[:, :3], picked[:, 3:4]

    def expected_pe(self, conditions):
        """Mean photoelectrons [B, n_pmt] of physical conditions [B, k]."""
        vertex, energy = self._vertex_energy(conditions)
        return self._expectation(self._geometry(vertex), energy)

    def _geometry(self, vertex):
        return pmt_geometry(vertex, self.positions, self.normals, self.areas)

    def _expectation(self, geometry, energy):
        distance, _, solid_angle = geometry
        light_pe_per_mev, attenuation_length, dark_noise = (self.physics[i] for i in range(3))
        attenuation = ops.exp(-distance / attenuation_length)
        return light_pe_per_mev * energy * solid_angle * attenuation + dark_noise

    def _learned(self, encoded, geometry, energy):
        channels = geometry_features(*geometry, energy) * self.light_geometry
        return light_mu(self.light, encoded, channels)

    def expected_pe_learned(self, encoded_conditions):
        """The light model's mean charge [B, n_pmt] of encoded conditions (mode learned)."""
        encoded = ops.cast(encoded_conditions, "float32")
        vertex, energy = self._vertex_energy(encoded * self.condition_std + self.condition_mean)
        return self._learned(encoded, self._geometry(vertex), energy)

    def call(self, encoded_conditions):
        encoded = ops.cast(encoded_conditions, "float32")
        physical = encoded * self.condition_std + self.condition_mean
        vertex, energy = self._vertex_energy(physical)
        geometry = self._geometry(vertex)
        if self.mode == "geometry":
            features = ops.unstack(geometry_features(*geometry, energy), axis=-1)
        else:
            if self.mode == "learned":
                mu = self._learned(encoded, geometry, energy)
            else:
                mu = self._expectation(geometry, energy)
            no_hit = self.physics[3]
            # Poisson: P(0 PE) = exp(-mu); the encoded mean mixes the no-hit value with log1p(mu).
            p_hit = 1.0 - ops.exp(-mu)
            log_charge = p_hit * ops.log1p(mu) + (1.0 - p_hit) * no_hit
            encoded_mean = (log_charge - self.charge_mean) / self.charge_std
            poisson_width = 1.0 / (ops.sqrt(mu + 1.0) * self.charge_std)
            scale = ops.broadcast_to(ops.log(self.charge_std), ops.shape(mu))
            features = [ops.log(mu) / 3.0, encoded_mean, scale, poisson_width, p_hit]
        return ops.cast(ops.stack(features, axis=-1), self.compute_dtype)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "n_pmt": self.n_pmt,
            "n_conditions": self.n_conditions,
            "mode": self.mode,
        }
