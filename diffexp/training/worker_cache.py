"""Prepared data kept in a long-lived worker's memory across trials.

A pool worker runs one trial after another in one process. Every trial of a phase-1 search
trains on the same simulated events (the search changes the model and the optimizer, not
`data`), yet each would load the event cache from disk, split it, fit the normalisation and
encode it again. Here the worker keeps the last few PreparedData in memory, keyed by
everything that determines them, and a trial whose key matches reuses them.

Off by default: a single run prepares its data once anyway, and a cache that outlives a run
only pays in a process that runs many. The pool worker switches it on (`enable()`); the
benchmark switches it on and off to measure what it saves. The arrays are never written to
(the trainer copies them into tensors), so sharing them between trials is safe.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Generic, TypeVar

from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:  # importing preparation imports TensorFlow; the pool worker enables the
    # cache before its first job, and TensorFlow must first be imported by the job, after it
    # has sized TensorFlow's thread pools (runtime.configure_threads)
    from diffexp.training.preparation import PreparedData

MAX_ENTRIES = 2  # data sets kept at once: a search uses one; two cover a switch between searches

T = TypeVar("T")


class WorkerMemory(Generic[T]):
    """Up to `max_entries` things a worker keeps across trials, by key, least recently used
    dropped first; off until `enable()`."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.enabled = False
        self._kept: OrderedDict[str, T] = OrderedDict()

    def enable(self, on: bool = True) -> None:
        """Keep things from now on (`on=False`: stop; what is kept stays until `clear()`)."""
        self.enabled = on

    def is_enabled(self) -> bool:
        return self.enabled

    def get(self, key: str) -> T | None:
        if key in self._kept:
            self._kept.move_to_end(key)
        return self._kept.get(key)

    def keep(self, key: str, value: T) -> T:
        self._kept[key] = value
        while len(self._kept) > self.max_entries:
            self._kept.popitem(last=False)
        return value

    def clear(self) -> None:
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


_memory: WorkerMemory[PreparedData] = WorkerMemory(MAX_ENTRIES)


def enable(on: bool = True) -> None:
    """Keep prepared data across trials in this process (`on=False`: prepare it afresh for
    every run; what is kept stays until `clear()`)."""
    _memory.enabled = on


def clear() -> None:
    """Forget every kept data set."""
    _memory.clear()


def enabled() -> bool:
    return _memory.enabled


def data_key(cfg: DictConfig) -> str:
    """What prepare_data's result depends on: the data config, the cache folder it is read
    from, and the model keys that change the encoding or the detector prior."""
    model = cfg.model
    parts = {
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "cache_dir": str(cfg.paths.cache_dir),
        "model": str(model.name),
        "prior": str(model.get("prior", "none")),
        "no_hit_log_charge": float(model.get("no_hit_log_charge", 0.0)),
    }
    return json.dumps(parts, sort_keys=True, default=str)


def prepared_data(cfg: DictConfig) -> PreparedData:
    """prepare_data(cfg) for a new run (normalisation fitted here), from memory when enabled
    and prepared before."""
    from diffexp.training.preparation import prepare_data

    if not _memory.enabled:
        return prepare_data(cfg)
    key = data_key(cfg)
    kept = _memory.get(key)
    return kept if kept is not None else _memory.keep(key, prepare_data(cfg))
