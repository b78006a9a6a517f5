"""A seeded, vectorised simulator of PMT charges in a cylindrical detector.

Expected photoelectrons of PMT i for a vertex v and energy E:

    mu_i = light_yield * E * efficiency * area_i * max(cos theta_i, 0) / (4 pi d_i^2)
           * exp(-d_i / attenuation_length) + dark_noise

with d_i the vertex-PMT distance (never below the PMT radius, where the point-source
solid angle would diverge) and theta_i the angle between the PMT's inward normal and the
direction to the vertex. The observed charge is Poisson(mu) photoelectrons smeared by the
single-PE resolution (sigma = spe_resolution * sqrt(n_pe)); charges below the hit threshold
read 0. Every constant comes from `conf/data/simulated.yaml`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from omegaconf import DictConfig

from diffexp.data.config import require, to_plain
from diffexp.data.errors import DataError
from diffexp.data.events import SIMULATED_CONDITION_NAMES, EventSet
from diffexp.data.geometry import DetectorGeometry, build_geometry

# Events per vectorised block: bounds memory ([block, n_pmt] float64 temporaries) for any
# n_events; the block size is part of the random stream, so it stays fixed.
_BLOCK_EVENTS = 8192

_PHYSICS_KEYS = (
    "light_yield_pe_per_mev",
    "efficiency",
    "attenuation_length_m",
    "dark_noise_pe",
    "spe_resolution",
    "threshold_pe",
)


class DetectorSimulator:
    """Expected and sampled PMT charges for given (x, y, z, E) conditions."""

    def __init__(
        self,
        geometry: DetectorGeometry,
        physics_cfg: Mapping[str, Any],
        energy_range_mev: tuple[float, float] | None = None,
        fiducial_margin_m: float = 0.0,
    ) -> None:
        physics = {key: float(require(physics_cfg, key, "data.physics")) for key in _PHYSICS_KEYS}
        for key in ("light_yield_pe_per_mev", "attenuation_length_m"):
            if physics[key] <= 0:
                raise DataError(f"data.physics.{key}={physics[key]} must be positive")
        for key in ("efficiency", "dark_noise_pe", "spe_resolution", "threshold_pe"):
            if physics[key] < 0:
                raise DataError(f"data.physics.{key}={physics[key]} must be >= 0")
        if energy_range_mev is not None and not 0 <= energy_range_mev[0] <= energy_range_mev[1]:
            raise DataError(
                f"data.energy_min_mev/energy_max_mev={energy_range_mev}: need 0 <= min <= max"
            )
        if not 0 <= fiducial_margin_m < min(geometry.radius, geometry.half_height):
            raise DataError(
                f"data.fiducial_margin_m={fiducial_margin_m} must be >= 0 and smaller than the "
                "detector radius and half height"
            )
        self.geometry = geometry
        self.physics = physics
        self.energy_range_mev = energy_range_mev
        self.fiducial_margin_m = float(fiducial_margin_m)
        self._min_distance = np.sqrt(geometry.areas / np.pi)
        self._normal_offset = np.einsum("ij,ij->i", geometry.positions, geometry.normals)
        self._position_sq = np.einsum("ij,ij->i", geometry.positions, geometry.positions)

    @property
    def n_pmt(self) -> int:
        return self.geometry.n_pmt

    def expected_pe(self, conditions: np.ndarray) -> np.ndarray:
        """Mean photoelectrons [N, n_pmt] (float64) for conditions [N, 4] = (x, y, z, E)."""
        conditions = np.asarray(conditions, dtype=np.float64)
        if conditions.ndim != 2 or conditions.shape[1] != 4:
            raise ValueError(
                f"conditions must be [N, 4] (x_m, y_m, z_m, energy_mev), got {conditions.shape}"
            )
        vertex, energy = conditions[:, :3], conditions[:, 3:4]
        geo, phys = self.geometry, self.physics
        # |v - p|^2 and n.(v - p) from matrix products: no [N, n_pmt, 3] temporaries.
        dist_sq = (
            np.einsum("ij,ij->i", vertex, vertex)[:, None]
            + self._position_sq[None, :]
            - 2.0 * vertex @ geo.positions.T
        )
        dist = np.maximum(np.sqrt(np.maximum(dist_sq, 0.0)), self._min_distance)
        cos_theta = np.clip((vertex @ geo.normals.T - self._normal_offset) / dist, 0.0, 1.0)
        solid_angle_fraction = geo.areas * cos_theta / (4.0 * np.pi * dist**2)
        attenuation = np.exp(-dist / phys["attenuation_length_m"])
        light = phys["light_yield_pe_per_mev"] * phys["efficiency"] * energy
        return light * solid_angle_fraction * attenuation + phys["dark_noise_pe"]

    def simulate(self, conditions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Observed charges [N, n_pmt] float32 (PE, >= 0) drawn with `rng`."""
        conditions = np.asarray(conditions, dtype=np.float64)
        charges = np.empty((conditions.shape[0], self.n_pmt), dtype=np.float32)
        for start in range(0, conditions.shape[0], _BLOCK_EVENTS):
            block = slice(start, start + _BLOCK_EVENTS)
            charges[block] = self._observe(self.expected_pe(conditions[block]), rng)
        return charges

    def _observe(self, mean_pe: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n_pe = rng.poisson(mean_pe).astype(np.float32)
        sigma = np.float32(self.physics["spe_resolution"]) * np.sqrt(n_pe)
        charge = n_pe + sigma * rng.standard_normal(n_pe.shape, dtype=np.float32)
        charge[charge < self.physics["threshold_pe"]] = 0.0
        return np.maximum(charge, 0.0)

    def sample_conditions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n conditions [n, 4]: vertices uniform in the fiducial cylinder, E uniform in range."""
        if self.energy_range_mev is None:
            raise ValueError("this simulator has no energy range: pass energy_range_mev")
        radius = self.geometry.radius - self.fiducial_margin_m
        half_height = self.geometry.half_height - self.fiducial_margin_m
        r = radius * np.sqrt(rng.random(n))
        phi = rng.uniform(0.0, 2.0 * np.pi, n)
        z = rng.uniform(-half_height, half_height, n)
        energy = rng.uniform(*self.energy_range_mev, n)
        return np.stack([r * np.cos(phi), r * np.sin(phi), z, energy], axis=1)


def simulator_from_config(data_cfg: Mapping[str, Any] | DictConfig) -> DetectorSimulator:
    """The simulator described by a `data: simulated` config."""
    cfg = to_plain(data_cfg)
    if cfg.get("source") != "simulated":
        raise DataError(
            f"data.source={cfg.get('source')!r} has no simulator: use data=simulated "
            "(the physics verification needs the simulator)"
        )
    energy_range = (
        float(require(cfg, "energy_min_mev")),
        float(require(cfg, "energy_max_mev")),
    )
    return DetectorSimulator(
        build_geometry(require(cfg, "geometry")),
        require(cfg, "physics"),
        energy_range_mev=energy_range,
        fiducial_margin_m=float(cfg.get("fiducial_margin_m") or 0.0),
    )


def simulate_events(data_cfg: Mapping[str, Any] | DictConfig, n_events: int, seed: int) -> EventSet:
    """`n_events` simulated events; the same config and seed give the same events."""
    if int(n_events) <= 0:
        raise DataError(f"data.n_events={n_events} must be a positive integer")
    simulator = simulator_from_config(data_cfg)
    rng = np.random.default_rng(seed)
    conditions = simulator.sample_conditions(int(n_events), rng)
    charges = simulator.simulate(conditions, rng)
    return EventSet(charges, conditions.astype(np.float32), SIMULATED_CONDITION_NAMES)
