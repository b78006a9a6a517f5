"""A user's own PMT geometry: positions, facing directions and (optionally) areas, read from
the events file itself or from a separate CSV, JSON or .npz file, and which conditions are
the vertex and the energy.

Every real detector knows where its PMTs sit, and with that the denoiser can be told what
each PMT sees (distance, angle, solid angle: `model.prior=geometry`) and a light model can be
fitted on it (`model.prior=learned`). File formats (the names are config keys):

- .npz / events file: arrays `data.positions_key` [n_pmt, 3], `data.directions_key`
  [n_pmt, 3] and, optional, `data.areas_key` [n_pmt];
- JSON: an object with the same keys, each a list (of [x, y, z] rows for the first two);
- CSV: a header row naming the columns x, y, z, dir_x, dir_y, dir_z and, optional, area.

Positions are in metres in the frame of the vertex conditions; directions point the way the
PMT looks (into the detector) and need not be unit length; areas are m^2 (default
`data.default_pmt_area_m2` for all).
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diffexp.data.errors import DataError

CSV_COLUMNS: tuple[str, ...] = ("x", "y", "z", "dir_x", "dir_y", "dir_z")
DEFAULT_PMT_AREA_M2 = float(np.pi * 0.1**2)  # a 20 cm PMT, when neither file nor config says


@dataclass(frozen=True, eq=False)
class UserGeometry:
    """PMT positions [n_pmt, 3] (m), unit facing directions [n_pmt, 3] and areas [n_pmt] (m^2)."""

    positions: np.ndarray
    normals: np.ndarray
    areas: np.ndarray
    source: str  # the file it came from, for messages

    @property
    def n_pmt(self) -> int:
        return int(self.positions.shape[0])

    def select(self, pmt_ids: np.ndarray | None) -> UserGeometry:
        """The rows of the PMTs `pmt_ids` (the charge columns a PMT selection kept)."""
        if pmt_ids is None:
            return self
        ids = np.asarray(pmt_ids, np.int64)
        return UserGeometry(self.positions[ids], self.normals[ids], self.areas[ids], self.source)


def _keys(cfg: Mapping[str, Any]) -> tuple[str, str, str]:
    return (
        str(cfg.get("positions_key") or "pmt_positions"),
        str(cfg.get("directions_key") or "pmt_directions"),
        str(cfg.get("areas_key") or "pmt_areas"),
    )


def _from_npz(path: Path, keys: tuple[str, str, str], required: bool) -> dict[str, Any] | None:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if keys[0] not in archive.files and keys[1] not in archive.files and not required:
                return None  # the events file carries no geometry
            return {key: archive[key] for key in keys if key in archive.files}
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        raise DataError(f"{path}: cannot read the geometry arrays ({error})") from None


def _from_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"data.geometry_file={path}: not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise DataError(f"data.geometry_file={path}: the JSON must be an object of arrays")
    return data


def _from_csv(path: Path, keys: tuple[str, str, str]) -> dict[str, Any]:
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"data.geometry_file={path}: not a readable CSV ({error})") from None
    header = set(rows[0]) if rows else set()
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing:
        raise DataError(
            f"data.geometry_file={path}: no column {missing[0]!r}; the header row must name "
            f"{', '.join(CSV_COLUMNS)} (and optionally area)"
        )

    def numbers(names: Sequence[str]) -> np.ndarray:
        try:
            return np.array([[float(row[name]) for name in names] for row in rows])
        except (TypeError, ValueError):
            raise DataError(
                f"data.geometry_file={path}: a non-number in columns {', '.join(names)}"
            ) from None

    arrays = {keys[0]: numbers(CSV_COLUMNS[:3]), keys[1]: numbers(CSV_COLUMNS[3:])}
    if "area" in header:
        arrays[keys[2]] = numbers(["area"])[:, 0]
    return arrays


def _as_array(value: Any, name: str, source: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{source}: {name} is not an array of numbers") from None
    if not np.all(np.isfinite(array)):
        raise DataError(f"{source}: {name} has NaN or inf values; every PMT needs finite numbers")
    return array


def _checked(arrays: Mapping[str, Any], keys, source: str, default_area: float) -> UserGeometry:
    positions_key, directions_key, areas_key = keys
    for key in (positions_key, directions_key):
        if key not in arrays:
            raise DataError(
                f"{source}: no array {key!r}; set data.positions_key / data.directions_key "
                "to your names"
            )
    positions = _as_array(arrays[positions_key], positions_key, source)
    directions = _as_array(arrays[directions_key], directions_key, source)
    if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) == 0:
        raise DataError(f"{source}: {positions_key} has shape {positions.shape}; need [n_pmt, 3]")
    if directions.shape != positions.shape:
        raise DataError(
            f"{source}: {directions_key} has shape {directions.shape}; need {positions.shape} "
            f"like {positions_key}"
        )
    length = np.linalg.norm(directions, axis=1)
    if np.any(length <= 1e-12):
        raise DataError(
            f"{source}: {directions_key} has {int(np.sum(length <= 1e-12))} zero-length "
            "directions; each PMT needs the way it faces"
        )
    if areas_key in arrays:
        areas = _as_array(arrays[areas_key], areas_key, source)
        if areas.shape != (len(positions),) or np.any(areas <= 0):
            raise DataError(
                f"{source}: {areas_key} must be {len(positions)} positive areas (m^2), "
                f"got shape {areas.shape}"
            )
    else:
        areas = np.full(len(positions), float(default_area))
    return UserGeometry(positions, directions / length[:, None], areas, source)


def load_user_geometry(cfg: Mapping[str, Any], n_pmt: int | None = None) -> UserGeometry | None:
    """The geometry of a user's data config, or None when neither `data.geometry_file` is set
    nor the events file (a .npz) carries the positions array. `n_pmt`, when known, must
    match the charge columns of the events file."""
    keys = _keys(cfg)
    default_area = float(cfg.get("default_pmt_area_m2") or DEFAULT_PMT_AREA_M2)
    geometry_file = cfg.get("geometry_file")
    if geometry_file:
        path = Path(str(geometry_file)).expanduser()
        if not path.is_file():
            raise DataError(f"data.geometry_file={path}: file not found")
        suffix = path.suffix.lower()
        if suffix == ".json":
            arrays = _from_json(path)
        elif suffix == ".csv":
            arrays = _from_csv(path, keys)
        elif suffix == ".npz":
            arrays = _from_npz(path, keys, required=True)
        else:
            raise DataError(f"data.geometry_file={path}: use a .csv, .json or .npz file")
        source = str(path)
    else:
        path = Path(str(cfg.get("path") or "")).expanduser()
        if path.suffix.lower() != ".npz" or not path.is_file():
            return None
        arrays, source = _from_npz(path, keys, required=False), str(path)
        if arrays is None:
            return None
    geometry = _checked(arrays, keys, source, default_area)
    if n_pmt is not None and geometry.n_pmt != n_pmt:
        raise DataError(
            f"{source}: {keys[0]} has {geometry.n_pmt} PMTs but the charges have {n_pmt} "
            "columns; give one geometry row per charge column, in the same order"
        )
    return geometry


def condition_roles(
    cfg: Mapping[str, Any], condition_names: Sequence[str]
) -> tuple[list[int] | None, int | None]:
    """Column indices of the vertex (x, y, z; None when `data.vertex_conditions` is unset)
    and of the energy (`data.energy_condition`; None when unset)."""
    names = list(condition_names)
    vertex_names, energy_name = cfg.get("vertex_conditions"), cfg.get("energy_condition")
    vertex = None
    if vertex_names is not None:
        vertex_names = [str(name) for name in vertex_names]
        if len(vertex_names) != 3:
            raise DataError(
                f"data.vertex_conditions={vertex_names} must name 3 conditions (x, y, z)"
            )
        unknown = [name for name in vertex_names if name not in names]
        if unknown:
            raise DataError(
                f"data.vertex_conditions: {unknown[0]!r} is not among the conditions {names}"
            )
        vertex = [names.index(name) for name in vertex_names]
    energy = None
    if energy_name is not None:
        if str(energy_name) not in names:
            raise DataError(
                f"data.energy_condition={energy_name!r} is not among the conditions {names}"
            )
        energy = names.index(str(energy_name))
    return vertex, energy
