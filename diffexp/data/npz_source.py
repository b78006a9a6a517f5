"""Load a user's events from a .npz file, checking everything a model would trip over later."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from diffexp.data.config import require
from diffexp.data.errors import DataError
from diffexp.data.events import EventSet


def _open_npz(path: Path) -> np.lib.npyio.NpzFile:
    if not path.is_file():
        raise DataError(f"data.path={path}: file not found; point data.path at your .npz file")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        raise DataError(f"data.path={path}: not a readable .npz file ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"data.path={path}: a single array, not an .npz; save with np.savez")
    return archive


def _read_arrays(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """The requested arrays (and `condition_names` when the file has it)."""
    with _open_npz(path) as archive:
        present = sorted(archive.files)
        missing = [key for key in keys if key not in present]
        if missing:
            raise DataError(
                f"{path}: no array {missing[0]!r} (arrays present: {present}); "
                "set data.charges_key / data.conditions_key to the right names"
            )
        wanted = [*keys, "condition_names"]
        try:
            return {key: archive[key] for key in present if key in wanted}
        except (OSError, zipfile.BadZipFile, ValueError) as error:
            raise DataError(f"data.path={path}: cannot read its arrays ({error})") from None


def _check_array(array: np.ndarray, name: str, path: Path) -> np.ndarray:
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise DataError(f"{path}: {name} has dtype {array.dtype}; it must hold real numbers")
    if array.ndim != 2:
        raise DataError(f"{path}: {name} has shape {array.shape}; it must be 2-D [N, columns]")
    if array.size == 0:
        raise DataError(
            f"{path}: {name} is empty (shape {array.shape}); it needs events and columns"
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise DataError(f"{path}: {name} has {bad} NaN/inf values; remove or fix those events")
    return array


def _condition_names(
    configured: Any, stored: np.ndarray | None, n_conditions: int, path: Path
) -> tuple[str, ...]:
    if configured is not None:
        names = tuple(str(name) for name in configured)
        source = "data.condition_names"
    elif stored is not None:
        names = tuple(str(name) for name in np.atleast_1d(stored))
        source = f"{path}: condition_names"
    else:
        return tuple(f"c{i}" for i in range(n_conditions))
    if len(names) != n_conditions:
        raise DataError(
            f"{source} has {len(names)} names for {n_conditions} conditions; give one per column"
        )
    return names


def load_npz_events(cfg: dict[str, Any]) -> EventSet:
    """Events from `data.path`, validated; DataError with the file and key on any problem."""
    path = Path(str(require(cfg, "path"))).expanduser()
    charges_key = str(require(cfg, "charges_key"))
    conditions_key = str(require(cfg, "conditions_key"))
    arrays = _read_arrays(path, [charges_key, conditions_key])
    charges = _check_array(arrays[charges_key], f"charges ({charges_key!r})", path)
    conditions = _check_array(arrays[conditions_key], f"conditions ({conditions_key!r})", path)
    if charges.shape[0] != conditions.shape[0]:
        raise DataError(
            f"{path}: {charges.shape[0]} events in {charges_key!r} but {conditions.shape[0]} in "
            f"{conditions_key!r}; both need one row per event"
        )
    if np.any(charges < 0):
        raise DataError(
            f"{path}: {int(np.sum(charges < 0))} negative charges in {charges_key!r}; "
            "charges are photoelectrons and must be >= 0"
        )
    names = _condition_names(
        cfg.get("condition_names"), arrays.get("condition_names"), conditions.shape[1], path
    )
    return EventSet(charges.astype(np.float32), conditions.astype(np.float32), names)
