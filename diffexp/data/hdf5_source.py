"""Load a user's events from an HDF5 file (h5py): a charges dataset [N, n_pmt] and a
conditions dataset [N, k], names as config keys; condition names from the config, a
`condition_names` dataset or the conditions dataset's `names` attribute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from diffexp.data.config import require
from diffexp.data.errors import DataError
from diffexp.data.events import EventSet
from diffexp.data.user_arrays import events_from_arrays


def dataset(handle: h5py.File, key: str, path: Path, config_key: str) -> h5py.Dataset:
    node = handle.get(key)
    if not isinstance(node, h5py.Dataset):
        present = sorted(handle.keys())
        raise DataError(
            f"{path}: no dataset {key!r} (top level holds {present}); set data.{config_key}"
        )
    return node


def stored_names(handle: h5py.File, conditions: h5py.Dataset) -> np.ndarray | None:
    names = handle.get("condition_names")
    if isinstance(names, h5py.Dataset):
        return np.array([_text(n) for n in np.atleast_1d(names[()])])
    if "names" in conditions.attrs:
        return np.array([_text(n) for n in np.atleast_1d(conditions.attrs["names"])])
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def open_hdf5(path: Path) -> h5py.File:
    """The file open for reading; a DataError when it is missing or not HDF5."""
    if not path.is_file():
        raise DataError(f"data.path={path}: file not found; point data.path at your HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise DataError(f"data.path={path}: not a readable HDF5 file ({error})") from None


def load_hdf5_events(cfg: dict[str, Any]) -> EventSet:
    """Events from `data.path`, validated; DataError with the file and dataset on any problem."""
    path = Path(str(require(cfg, "path"))).expanduser()
    charges_key = str(require(cfg, "charges_key"))
    conditions_key = str(require(cfg, "conditions_key"))
    with open_hdf5(path) as handle:
        charges = dataset(handle, charges_key, path, "charges_key")
        conditions = dataset(handle, conditions_key, path, "conditions_key")
        try:
            charge_values, condition_values = charges[()], conditions[()]
        except (OSError, ValueError, TypeError) as error:
            raise DataError(
                f"{path}: cannot read {charges_key!r}/{conditions_key!r} ({error})"
            ) from None
        stored = stored_names(handle, conditions)
    return events_from_arrays(
        charge_values,
        condition_values,
        stored,
        cfg.get("condition_names"),
        path,
        charges_key,
        conditions_key,
    )
