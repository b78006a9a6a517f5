"""Read a user's event file a slice of rows at a time: an HDF5 file (h5py slicing) or a
folder of `.npy` files (plain reads at the row's byte offset), so a file larger than memory
can be trained on (diffexp/data/streaming.py). Nothing here holds more than the rows asked for.

A `.npy` folder holds `<charges_key>.npy` [N, n_pmt], `<conditions_key>.npy` [N, k] and
optionally `condition_names.npy` (strings): an `.npz` unzipped, which is what
`python -m diffexp.data.npz_to_npy` writes. `.npy` rows are read with `np.fromfile` at their
offset rather than through a long-lived memory map (`mmap_mode="r"`): pages of a mapping stay
resident (and count in the process's memory) after they are read, a read does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from diffexp.data.config import require
from diffexp.data.errors import DataError
from diffexp.data.npz_source import read_npy_header


class EventFile(Protocol):
    """Rows [start, stop) of the charges and conditions, as stored (no checks, no copy kept)."""

    path: Path
    n_events: int
    n_pmt: int
    n_conditions: int
    stored_names: np.ndarray | None

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]: ...


class NpyArray:
    """One C-ordered `.npy` array of 2 dimensions, read by rows."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise DataError(f"data.path: {path} not found; the folder needs this .npy file")
        try:
            with path.open("rb") as handle:
                shape, fortran_order, dtype = read_npy_header(handle)
                self.offset = handle.tell()
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: not a readable .npy file ({error})") from None
        if len(shape) != 2:
            raise DataError(f"{path}: shape {shape}; it must be 2-D [N, columns]")
        if fortran_order or dtype.hasobject:
            raise DataError(
                f"{path}: stored {'Fortran-ordered' if fortran_order else 'as objects'}; "
                "save it with np.save(path, np.ascontiguousarray(array, np.float32))"
            )
        self.path, self.shape, self.dtype = path, tuple(int(n) for n in shape), dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        n_columns = self.shape[1]
        offset = self.offset + start * n_columns * self.dtype.itemsize
        count = (stop - start) * n_columns
        rows = np.fromfile(self.path, dtype=self.dtype, count=count, offset=offset)
        return rows.reshape(stop - start, n_columns)


class NpyFolder:
    """A folder of `.npy` files: `<charges_key>.npy`, `<conditions_key>.npy`, names optional."""

    def __init__(self, folder: Path, charges_key: str, conditions_key: str) -> None:
        if not folder.is_dir():
            raise DataError(
                f"data.path={folder}: not a folder; data=npy reads a folder holding "
                f"{charges_key}.npy and {conditions_key}.npy"
            )
        self.path = folder
        self.charges = NpyArray(folder / f"{charges_key}.npy")
        self.conditions = NpyArray(folder / f"{conditions_key}.npy")
        names = folder / "condition_names.npy"
        self.stored_names = np.load(names, allow_pickle=False) if names.is_file() else None
        _check_rows(folder, self.charges.shape[0], self.conditions.shape[0])
        self.n_events, self.n_pmt = self.charges.shape
        self.n_conditions = self.conditions.shape[1]

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        return self.charges.read(start, stop), self.conditions.read(start, stop)


class Hdf5Events:
    """The charges and conditions datasets of an HDF5 file, read by h5py slicing."""

    def __init__(self, path: Path, charges_key: str, conditions_key: str) -> None:
        from diffexp.data.hdf5_source import dataset, open_hdf5, stored_names

        self.path = path
        self._handle = open_hdf5(path)
        self._charges = dataset(self._handle, charges_key, path, "charges_key")
        self._conditions = dataset(self._handle, conditions_key, path, "conditions_key")
        for node, key in ((self._charges, charges_key), (self._conditions, conditions_key)):
            if node.ndim != 2:
                raise DataError(f"{path}: {key!r} has shape {node.shape}; it must be 2-D")
        self.stored_names = stored_names(self._handle, self._conditions)
        _check_rows(path, self._charges.shape[0], self._conditions.shape[0])
        self.n_events, self.n_pmt = (int(n) for n in self._charges.shape)
        self.n_conditions = int(self._conditions.shape[1])

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        try:
            return self._charges[start:stop], self._conditions[start:stop]
        except (OSError, ValueError, TypeError) as error:
            raise DataError(f"{self.path}: cannot read rows {start}-{stop} ({error})") from None


def _check_rows(path: Path, n_charges: int, n_conditions: int) -> None:
    if n_charges != n_conditions:
        raise DataError(
            f"{path}: {n_charges} charge rows but {n_conditions} condition rows; "
            "both need one row per event"
        )


def open_event_file(cfg: dict[str, Any]) -> EventFile:
    """The event file of a data=hdf5 or data=npy config, open for reading rows."""
    path = Path(str(require(cfg, "path"))).expanduser()
    charges_key = str(require(cfg, "charges_key"))
    conditions_key = str(require(cfg, "conditions_key"))
    if cfg.get("source") == "npy":
        return NpyFolder(path, charges_key, conditions_key)
    return Hdf5Events(path, charges_key, conditions_key)
