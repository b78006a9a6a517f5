"""`load_events`: one entry point for every data source, with a cache for simulated events."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from diffexp.data.config import require, to_plain
from diffexp.data.detector import describe_detector
from diffexp.data.errors import DataError
from diffexp.data.events import EventSet
from diffexp.data.npy_source import load_npy_events
from diffexp.data.npz_source import load_npz_events
from diffexp.data.selection import apply_pmt_selection
from diffexp.data.simulator import simulate_events
from diffexp.file_checks import array_checksum, event_arrays_problem

log = logging.getLogger(__name__)

# Keys that do not change which events are simulated: they are applied after the cache.
_KEYS_NOT_IN_HASH = ("val_fraction", "pmt_selection", "n_pmts_kept", "light_model", "readout")
# Bump when the simulator's output for the same config changes, so old caches are not reused.
_SIMULATOR_VERSION = 1


def _numbers_as_float(value: Any) -> Any:
    """1 and 1.0 mean the same event config (`energy_min_mev=1` on the command line)."""
    if isinstance(value, dict):
        return {key: _numbers_as_float(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers_as_float(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def simulation_cache_key(data_cfg: Mapping[str, Any] | DictConfig) -> str:
    """A stable hash of everything in the data config that shapes the simulated events."""
    cfg = {k: v for k, v in to_plain(data_cfg).items() if k not in _KEYS_NOT_IN_HASH}
    canonical = {"config": _numbers_as_float(cfg), "version": _SIMULATOR_VERSION}
    text = json.dumps(canonical, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_atomically(path: Path, events: EventSet, meta: dict[str, Any]) -> None:
    """Write to a temporary file and rename: parallel trials never read half a cache file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(
                handle,
                charges=events.charges,
                conditions=events.conditions,
                condition_names=np.array(events.condition_names),
                meta=np.array(json.dumps(meta, sort_keys=True)),
            )
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the cache is shared by jobs
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _read_cache(path: Path, n_events: int) -> EventSet | None:
    """The cached events, or None when the file is unusable (diffexp.file_checks): it is then
    deleted with one warning, and the caller simulates again."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            charges, conditions = archive["charges"], archive["conditions"]
            names = tuple(str(n) for n in archive["condition_names"])
            checksum = json.loads(str(archive["meta"])).get("checksum")
        problem = event_arrays_problem(charges, conditions, n_events, checksum)
    except (OSError, ValueError, KeyError, EOFError, AttributeError, zipfile.BadZipFile) as error:
        problem = f"unreadable: {type(error).__name__}"
    if problem is None:
        return EventSet(charges, conditions, names)
    log.warning(
        "simulated-data cache %s is unusable (%s): deleted, simulating again", path, problem
    )
    path.unlink(missing_ok=True)
    return None


def cached_simulation(
    data_cfg: Mapping[str, Any] | DictConfig, cache_dir: str | Path | None
) -> EventSet:
    """Simulated events (all PMTs) from the cache, or simulated and cached now."""
    cfg = to_plain(data_cfg)
    n_events, seed = int(require(cfg, "n_events")), int(require(cfg, "seed"))
    if cache_dir is None:
        return simulate_events(cfg, n_events, seed)
    key = simulation_cache_key(cfg)
    path = Path(cache_dir) / f"simulated_{key}.npz"
    if path.is_file():
        events = _read_cache(path, n_events)
        if events is not None:
            return events
    events = simulate_events(cfg, n_events, seed)
    meta = {k: v for k, v in cfg.items() if k not in _KEYS_NOT_IN_HASH}
    checksum = array_checksum(events.charges, events.conditions)
    _write_atomically(path, events, {"key": key, "data": meta, "checksum": checksum})
    return events


def load_events(data_cfg: Mapping[str, Any] | DictConfig, cache_dir: str | Path | None) -> EventSet:
    """The events of `data_cfg` (simulated, or a user's .npz, .npy folder, HDF5 or ROOT file, whose
    geometry is checked too), with its PMT selection applied.

    Simulated events are cached in `cache_dir` (None: no cache) as
    `simulated_<hash>.npz`, the hash taken over the resolved data config minus the keys
    that do not change the events (val_fraction, pmt_selection, n_pmts_kept).
    """
    cfg = to_plain(data_cfg)
    source = cfg.get("source")
    if source == "simulated":
        events = cached_simulation(cfg, cache_dir)
    elif source in _OWN_SOURCES:
        events = _OWN_SOURCES[source](cfg)
        # Bad geometry or condition roles stop here, before any training.
        describe_detector(cfg, events.condition_names, events.n_pmt)
    else:
        raise DataError(
            f"data.source={source!r} is unknown: use data=simulated, npz, npy, hdf5 or root"
        )
    return apply_pmt_selection(events, cfg)


def _load_hdf5(cfg: dict[str, Any]) -> EventSet:
    from diffexp.data.hdf5_source import load_hdf5_events  # h5py: only for HDF5 data

    return load_hdf5_events(cfg)


def _load_root(cfg: dict[str, Any]) -> EventSet:
    from diffexp.data.root_source import load_root_events  # uproot: only for ROOT data

    return load_root_events(cfg)


_OWN_SOURCES = {
    "npz": load_npz_events,
    "npy": load_npy_events,
    "hdf5": _load_hdf5,
    "root": _load_root,
}
