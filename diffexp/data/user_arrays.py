"""Check a user's charge and condition arrays, whatever file they came from (.npz, HDF5,
ROOT), and turn them into an EventSet; every problem is one line naming the file and array."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from diffexp.data.errors import DataError
from diffexp.data.events import EventSet


def check_array(array: np.ndarray, name: str, path: Path) -> np.ndarray:
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


def condition_names_of(
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


def events_from_arrays(
    charges: np.ndarray,
    conditions: np.ndarray,
    stored_names: Any,
    configured_names: Any,
    path: Path,
    charges_key: str,
    conditions_key: str,
) -> EventSet:
    """Validated events: finite 2-D arrays, one row per event, charges >= 0, one name per
    condition (the configured names first, then those stored in the file, else c0, c1...)."""
    charges = check_array(charges, f"charges ({charges_key!r})", path)
    conditions = check_array(conditions, f"conditions ({conditions_key!r})", path)
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
    names = condition_names_of(configured_names, stored_names, conditions.shape[1], path)
    return EventSet(charges.astype(np.float32), conditions.astype(np.float32), names)
