"""What each PMT should see, computed inside the network from an event's conditions.

A plain MLP has to learn from scratch how four numbers (vertex, energy) map to 128 charges,
and it learns it only roughly (measured: charge scatter 2-10x Poisson around the expectation,
demo classifier AUC 0.88). The geometry of a detector is known, so the network can be told
it: for every PMT the distance to the vertex, the direction cosine, the solid angle and, where
the light model is known too, the expected photoelectrons

    mu_i = light_yield * efficiency * E * area_i * max(cos theta_i, 0) / (4 pi d_i^2)
           * exp(-d_i / attenuation_length) + dark_noise

(the simulator's formula, `diffexp.data.simulator`; a test keeps the two equal). The prior's
constants are non-trainable weights of the layer, so they travel with every checkpoint and
weights file and a loaded run needs nothing else to rebuild them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from diffexp.data import SIMULATED_CONDITION_NAMES, EventTransform, build_geometry
from diffexp.data.config import require, to_plain
from diffexp.data.errors import DataError
from diffexp.errors import ConfigError

PRIOR_MODES: tuple[str, ...] = ("expectation", "geometry", "none")
# Features per PMT that each mode adds to the denoiser's per-PMT input.
N_PRIOR_FEATURES: dict[str, int] = {"expectation": 5, "geometry": 4, "none": 0}


@dataclass(frozen=True)
class PriorValues:
    """The constants of `DetectorPrior`, in the order of the charge columns."""

    positions: np.ndarray  # [n_pmt, 3] m
    normals: np.ndarray  # [n_pmt, 3] unit, into the detector
    areas: np.ndarray  # [n_pmt] m^2
    light_pe_per_mev: float  # light_yield * efficiency
    attenuation_length_m: float
    dark_noise_pe: float
    condition_mean: np.ndarray  # [k] the transform's, to decode the encoded conditions
    condition_std: np.ndarray  # [k]
    charge_mean: np.ndarray  # [n_pmt] the transform's encoded-charge statistics
    charge_std: np.ndarray  # [n_pmt]
    no_hit_log_charge: float  # where the transform puts a PMT without a hit (log space)


def prior_values(
    data_cfg: Mapping[str, Any], transform: EventTransform, pmt_ids: np.ndarray | None
) -> PriorValues:
    """The prior of a `data: simulated` run; a one-line error for data without a geometry."""
    cfg = to_plain(data_cfg)
    if cfg.get("source") != "simulated":
        raise DataError(
            f"model.prior needs the detector geometry, which data.source={cfg.get('source')!r} "
            "does not describe: use model.prior=none (or data=simulated)"
        )
    if tuple(transform.condition_names) != SIMULATED_CONDITION_NAMES:
        raise DataError(
            f"model.prior needs the conditions {SIMULATED_CONDITION_NAMES}, the data have "
            f"{transform.condition_names}: use model.prior=none"
        )
    geometry = build_geometry(require(cfg, "geometry"))
    ids = np.arange(geometry.n_pmt) if pmt_ids is None else np.asarray(pmt_ids, np.int64)
    physics = require(cfg, "physics")
    return PriorValues(
        positions=geometry.positions[ids],
        normals=geometry.normals[ids],
        areas=geometry.areas[ids],
        light_pe_per_mev=float(physics["light_yield_pe_per_mev"]) * float(physics["efficiency"]),
        attenuation_length_m=float(physics["attenuation_length_m"]),
        dark_noise_pe=float(physics["dark_noise_pe"]),
        condition_mean=transform.condition_mean,
        condition_std=transform.condition_std,
        charge_mean=transform.charge_mean,
        charge_std=transform.charge_std,
        no_hit_log_charge=transform.no_hit_log_charge,
    )


@keras.saving.register_keras_serializable(package="diffexp")
class DetectorPrior(layers.Layer):
    """Encoded conditions [B, k] -> per-PMT features [B, n_pmt, N_PRIOR_FEATURES[mode]].

    geometry:    log d, cos theta, log solid-angle fraction, log E (all roughly unit scale)
    expectation: log mu, the expected charge in the model's encoded units (what the network
                 should predict on average), the per-PMT encoding scale, the Poisson width
                 of that expectation in encoded units, and the hit probability.
    """

    def __init__(self, n_pmt: int, n_conditions: int, mode: str, **kwargs) -> None:
        super().__init__(**kwargs)
        if mode not in PRIOR_MODES or mode == "none":
            raise ConfigError(f"DetectorPrior mode {mode!r}: use expectation or geometry")
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

    def expected_pe(self, conditions):
        """Mean photoelectrons [B, n_pmt] of physical conditions [B, 4]."""
        geometry = self._geometry(conditions)
        return self._expectation(geometry, conditions[:, 3:4])

    def _geometry(self, physical):
        vertex = physical[:, :3]
        offset = vertex[:, None, :] - self.positions[None, :, :]  # [B, n_pmt, 3]
        min_distance = ops.sqrt(self.areas / np.pi)
        distance = ops.maximum(ops.sqrt(ops.sum(ops.square(offset), axis=-1)), min_distance)
        cos_theta = ops.clip(ops.sum(offset * self.normals, axis=-1) / distance, 0.0, 1.0)
        solid_angle = self.areas * cos_theta / (4.0 * np.pi * ops.square(distance))
        return distance, cos_theta, solid_angle

    def _expectation(self, geometry, energy):
        distance, _, solid_angle = geometry
        light_pe_per_mev, attenuation_length, dark_noise = (self.physics[i] for i in range(3))
        attenuation = ops.exp(-distance / attenuation_length)
        return light_pe_per_mev * energy * solid_angle * attenuation + dark_noise

    def call(self, encoded_conditions):
        physical = ops.cast(encoded_conditions, "float32") * self.condition_std
        physical = physical + self.condition_mean
        geometry = self._geometry(physical)
        energy = physical[:, 3:4]
        if self.mode == "geometry":
            distance, cos_theta, solid_angle = geometry
            log_energy = ops.broadcast_to(ops.log(ops.maximum(energy, 1e-3)), ops.shape(distance))
            features = [
                ops.log(distance),
                cos_theta,
                ops.log(solid_angle + 1e-6) / 5.0,
                log_energy,
            ]
        else:
            mu = self._expectation(geometry, energy)
            no_hit = self.physics[3]
            # Poisson: P(0 PE) = exp(-mu); the encoded mean mixes the no-hit value with log1p(mu).
            p_hit = 1.0 - ops.exp(-mu)
            log_charge = p_hit * ops.log1p(mu) + (1.0 - p_hit) * no_hit
            encoded = (log_charge - self.charge_mean) / self.charge_std
            poisson_width = 1.0 / (ops.sqrt(mu + 1.0) * self.charge_std)
            scale = ops.broadcast_to(ops.log(self.charge_std), ops.shape(mu))
            features = [ops.log(mu) / 3.0, encoded, scale, poisson_width, p_hit]
        return ops.cast(ops.stack(features, axis=-1), self.compute_dtype)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "n_pmt": self.n_pmt,
            "n_conditions": self.n_conditions,
            "mode": self.mode,
        }
