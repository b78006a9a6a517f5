"""PMT layout of a cylindrical detector: barrel rings and end-cap rings, all facing inward."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from diffexp.data.config import require
from diffexp.data.errors import DataError


@dataclass(frozen=True, eq=False)
class DetectorGeometry:
    """Where each PMT sits, which way it looks, and how much area it collects.

    PMT order: barrel rings from bottom to top (each ring counter-clockwise), then the top
    cap rings from the inside out, then the bottom cap rings from the inside out.
    """

    positions: np.ndarray  # [n_pmt, 3] m
    normals: np.ndarray  # [n_pmt, 3] unit vectors pointing into the detector
    areas: np.ndarray  # [n_pmt] m^2
    radius: float  # m
    half_height: float  # m
    region: np.ndarray  # [n_pmt] 0 barrel, 1 top cap, -1 bottom cap

    @property
    def n_pmt(self) -> int:
        return int(self.positions.shape[0])

    def unrolled_coordinates(self) -> np.ndarray:
        """2-D position [n_pmt, 2] (m) of each PMT with the detector cut open and laid flat.

        The barrel becomes a rectangle (arc length R*phi, z); the caps become discs above
        and below it, touching its top and bottom edges, which is the usual event display.
        """
        x, y, z = self.positions.T
        phi = np.arctan2(y, x)
        r_xy = np.hypot(x, y)
        flat = np.empty((self.n_pmt, 2))
        barrel = self.region == 0
        flat[barrel, 0] = self.radius * phi[barrel]
        flat[barrel, 1] = z[barrel]
        for sign in (1, -1):
            cap = self.region == sign
            centre = sign * (self.half_height + self.radius)
            flat[cap, 0] = r_xy[cap] * np.cos(phi[cap])
            flat[cap, 1] = centre + sign * r_xy[cap] * np.sin(phi[cap])
        return flat


def _ring(n: int, radius: float, z: float) -> np.ndarray:
    phi = 2.0 * np.pi * (np.arange(n) + 0.5) / n
    return np.stack([radius * np.cos(phi), radius * np.sin(phi), np.full(n, z)], axis=1)


def _positive(cfg: Mapping[str, Any], key: str) -> float:
    value = float(require(cfg, key, "data.geometry"))
    if value <= 0:
        raise DataError(f"data.geometry.{key}={value} must be positive")
    return value


def _count(value: Any, key: str) -> int:
    if int(value) != value or int(value) < 0:
        raise DataError(f"data.geometry.{key}={value} must be a non-negative integer")
    return int(value)


def build_geometry(geometry_cfg: Mapping[str, Any]) -> DetectorGeometry:
    """Build the PMT layout from `data.geometry`.

    Barrel rings sit at the centres of equal slices of the height; end-cap ring k of n sits
    at radius (k + 1/2) / n of the detector radius; a ring's PMTs are evenly spread in phi.
    """
    radius = _positive(geometry_cfg, "radius_m")
    half_height = _positive(geometry_cfg, "half_height_m")
    pmt_radius = _positive(geometry_cfg, "pmt_radius_m")
    n_rings = _count(require(geometry_cfg, "n_barrel_rings", "data.geometry"), "n_barrel_rings")
    per_ring = _count(require(geometry_cfg, "pmts_per_ring", "data.geometry"), "pmts_per_ring")
    cap_rings: Sequence[int] = [
        _count(n, "cap_rings") for n in require(geometry_cfg, "cap_rings", "data.geometry")
    ]

    ring_z = -half_height + 2.0 * half_height * (np.arange(n_rings) + 0.5) / max(n_rings, 1)
    barrel = [_ring(per_ring, radius, z) for z in ring_z]
    barrel_pos = np.concatenate(barrel) if barrel else np.zeros((0, 3))
    barrel_normals = -barrel_pos * np.array([1.0, 1.0, 0.0]) / radius

    cap_radii = radius * (np.arange(len(cap_rings)) + 0.5) / max(len(cap_rings), 1)
    positions, normals, region = [barrel_pos], [barrel_normals], [np.zeros(len(barrel_pos))]
    for sign in (1, -1):
        rings = [_ring(n, r, sign * half_height) for n, r in zip(cap_rings, cap_radii, strict=True)]
        cap_pos = np.concatenate(rings) if rings else np.zeros((0, 3))
        positions.append(cap_pos)
        normals.append(np.tile([0.0, 0.0, -float(sign)], (len(cap_pos), 1)))
        region.append(np.full(len(cap_pos), sign))

    all_positions = np.concatenate(positions)
    if len(all_positions) == 0:
        raise DataError("data.geometry has no PMTs: set n_barrel_rings/pmts_per_ring or cap_rings")
    return DetectorGeometry(
        positions=all_positions,
        normals=np.concatenate(normals),
        areas=np.full(len(all_positions), np.pi * pmt_radius**2),
        radius=radius,
        half_height=half_height,
        region=np.concatenate(region).astype(np.int64),
    )
