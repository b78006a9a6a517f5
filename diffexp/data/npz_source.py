"""Load a user's events from a .npz file, checking everything a model would trip over later."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from diffexp.data.config import require
from diffexp.data.errors import DataError
from diffexp.data.events import EventSet
from diffexp.data.user_arrays import events_from_arrays


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


def load_npz_events(cfg: dict[str, Any]) -> EventSet:
    """Events from `data.path`, validated; DataError with the file and key on any problem."""
    path = Path(str(require(cfg, "path"))).expanduser()
    charges_key = str(require(cfg, "charges_key"))
    conditions_key = str(require(cfg, "conditions_key"))
    arrays = _read_arrays(path, [charges_key, conditions_key])
    return events_from_arrays(
        arrays[charges_key],
        arrays[conditions_key],
        arrays.get("condition_names"),
        cfg.get("condition_names"),
        path,
        charges_key,
        conditions_key,
    )


def read_npy_header(stream: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) of the `.npy` data at `stream`, left at its first byte."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


def npz_array_shape(path: object, key: object) -> tuple[int, ...] | None:
    """The shape of one array of an `.npz`, read from its header only (no data, no pickle)."""
    if path is None or key is None:
        return None
    try:
        with zipfile.ZipFile(str(path)) as archive, archive.open(f"{key}.npy") as member:
            shape, _, _ = read_npy_header(member)
            return tuple(int(size) for size in shape)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
