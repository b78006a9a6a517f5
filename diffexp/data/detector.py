"""What a data config says about its detector: the PMT geometry (when known) and which
conditions are the vertex and the energy, for the simulator and a user's data alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from diffexp.data.config import require, to_plain
from diffexp.data.events import SIMULATED_CONDITION_NAMES
from diffexp.data.geometry import build_geometry
from diffexp.data.user_geometry import UserGeometry, condition_roles, load_user_geometry


@dataclass(frozen=True)
class DetectorDescription:
    """The geometry of all the file's PMTs (None: not given) and the condition roles."""

    geometry: UserGeometry | None
    vertex_columns: list[int] | None
    energy_column: int | None
    simulated: bool  # the built-in simulator: its light model is known exactly

    @property
    def has_geometry(self) -> bool:
        return self.geometry is not None and self.vertex_columns is not None


def describe_detector(
    data_cfg: Mapping[str, Any], condition_names: Sequence[str], n_pmt: int | None = None
) -> DetectorDescription:
    """The detector of `data_cfg` for events with `condition_names` (`n_pmt`: the file's
    charge columns, checked against the geometry when given)."""
    cfg = to_plain(data_cfg)
    if cfg.get("source") == "simulated":
        built = build_geometry(require(cfg, "geometry"))
        geometry = UserGeometry(built.positions, built.normals, built.areas, "data.geometry")
        names = list(condition_names)
        if tuple(names) != SIMULATED_CONDITION_NAMES:
            return DetectorDescription(geometry, None, None, simulated=True)
        return DetectorDescription(geometry, [0, 1, 2], 3, simulated=True)
    geometry = load_user_geometry(cfg, n_pmt)
    vertex, energy = condition_roles(cfg, condition_names)
    return DetectorDescription(geometry, vertex, energy, simulated=False)
