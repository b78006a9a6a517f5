"""Events of a file larger than memory, read a chunk of rows at a time (`data.streaming`).

The split is the in-memory one (`split_indices`, kept as one boolean per event), so the same
file and seed put the same events on each side; the normalisation is fitted in one chunked
pass (`EventTransform.fit_chunks`); validation reads only the validation events it scores
(the first ones, as the in-memory validator takes them); the learned light model is fitted on
a seeded subsample of the training events. Training batches come from
`shuffled_training_blocks`: each pass over the file visits its chunks in a new random order
and shuffles the events of `shuffle_chunks` chunks at a time (plus what the previous window
left over), so a batch mixes events from several places in the file while at most one such
window is in memory. Every chunk is checked (finite numbers, charges >= 0) as it is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from diffexp.data.config import to_plain
from diffexp.data.detector import describe_detector
from diffexp.data.errors import DataError
from diffexp.data.event_files import EventFile, open_event_file
from diffexp.data.events import EventSet, split_indices
from diffexp.data.npz_source import npz_array_shape
from diffexp.data.selection import kept_pmts
from diffexp.data.user_arrays import condition_names_of, events_from_arrays

STREAMABLE_SOURCES = ("hdf5", "npy")
BYTES_PER_VALUE = 4  # float32, as the events are held in memory

EncodedBlock = tuple[np.ndarray, np.ndarray]


def available_memory_bytes() -> int:
    """Memory the kernel says a new allocation can get now (MemAvailable), else free pages."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def _too_large(n_values: float, cfg: dict[str, Any]) -> bool:
    """`data.streaming=auto`: the events take more than streaming_memory_fraction of the
    memory available (the in-memory path holds several copies of them)."""
    fraction = float(cfg.get("streaming_memory_fraction", 0.15))
    return n_values * BYTES_PER_VALUE > fraction * available_memory_bytes()


def _cannot_stream(cfg: dict[str, Any]) -> DataError:
    source, path = cfg.get("source"), cfg.get("path")
    if source == "npz":
        return DataError(
            f"data.path={path}: an .npz cannot be read in chunks; convert it once with "
            f"`python -m diffexp.data.npz_to_npy {path} <folder>` and train with data=npy "
            "data.path=<folder> (or use HDF5), or set data.streaming=false"
        )
    return DataError(
        f"data.streaming: data={source} cannot be read in chunks; write the events to HDF5 "
        "(data=hdf5) or a .npy folder (data=npy), or set data.streaming=false"
    )


def _npz_values(cfg: dict[str, Any]) -> float:
    shape = npz_array_shape(cfg.get("path"), cfg.get("charges_key"))
    return float(np.prod(shape)) if shape else 0.0


@dataclass(frozen=True, eq=False)
class StreamedEvents:
    """A file's events as rows to read, with the split and the PMT selection applied."""

    file: EventFile = field(repr=False)
    charges_key: str
    conditions_key: str
    condition_names: tuple[str, ...]
    is_validation: np.ndarray = field(repr=False)  # bool [n_events]
    chunk_events: int
    columns: np.ndarray | None = field(default=None, repr=False)  # kept PMTs; None: all

    @property
    def n_events(self) -> int:
        return int(self.file.n_events)

    @property
    def n_val(self) -> int:
        return int(self.is_validation.sum())

    @property
    def n_train(self) -> int:
        return self.n_events - self.n_val

    @property
    def pmt_ids(self) -> np.ndarray:
        return np.arange(self.file.n_pmt) if self.columns is None else self.columns

    @property
    def n_pmt(self) -> int:
        return int(len(self.pmt_ids))

    def chunk_bounds(self) -> list[tuple[int, int]]:
        step = self.chunk_events
        return [(s, min(s + step, self.n_events)) for s in range(0, self.n_events, step)]

    def read_rows(self, start: int, stop: int) -> EventSet:
        """Rows [start, stop), checked, the kept PMTs only."""
        charges, conditions = self.file.read(start, stop)
        rows = f"rows {start}-{stop - 1}"
        events = events_from_arrays(
            charges,
            conditions,
            None,
            self.condition_names,
            self.file.path,
            f"{self.charges_key}, {rows}",
            f"{self.conditions_key}, {rows}",
        )
        return events if self.columns is None else events.select_pmts(self.columns)

    def training_chunk(self, start: int, stop: int) -> EventSet:
        """The training events of rows [start, stop)."""
        return self.read_rows(start, stop).subset(~self.is_validation[start:stop])

    def training_chunks(self) -> Iterator[EventSet]:
        for start, stop in self.chunk_bounds():
            yield self.training_chunk(start, stop)

    def first_validation_events(self, limit: int) -> EventSet:
        """The first `limit` validation events in file order: what the in-memory validator
        scores of the whole validation split (it takes the first ones too)."""
        return self._gather(np.flatnonzero(self.is_validation)[:limit])

    def training_subsample(self, max_events: int, seed: int) -> EventSet:
        """At most `max_events` training events, drawn without replacement (seeded), in
        file order; all of them when there are fewer."""
        train_rows = np.flatnonzero(~self.is_validation)
        if len(train_rows) > max_events:
            rng = np.random.default_rng(seed)
            train_rows = np.sort(rng.choice(train_rows, size=max_events, replace=False))
        return self._gather(train_rows)

    def _gather(self, rows: np.ndarray) -> EventSet:
        """The events at sorted file `rows`, read a chunk at a time."""
        parts = []
        for start, stop in self.chunk_bounds():
            inside = rows[(rows >= start) & (rows < stop)]
            if len(inside):
                parts.append(self.read_rows(start, stop).subset(inside - start))
        if not parts:
            raise DataError(f"{self.file.path}: no events to read for this split")
        charges = np.concatenate([p.charges for p in parts])
        conditions = np.concatenate([p.conditions for p in parts])
        return EventSet(charges, conditions, self.condition_names, self.pmt_ids)


def open_streamed_events(data_cfg: Mapping[str, Any] | DictConfig) -> StreamedEvents | None:
    """The events of `data_cfg` to read in chunks, or None when they are loaded whole
    (`data.streaming=false`; `auto` and a file that fits; simulated events)."""
    cfg = to_plain(data_cfg)
    setting = cfg.get("streaming", False)
    if setting not in (True, False, "auto"):
        raise DataError(f"data.streaming={setting!r} must be true, false or auto")
    if setting is False:
        return None
    if cfg.get("source") not in STREAMABLE_SOURCES:
        if setting is True or (cfg.get("source") == "npz" and _too_large(_npz_values(cfg), cfg)):
            raise _cannot_stream(cfg)
        return None
    file = open_event_file(cfg)
    if setting == "auto" and not _too_large(file.n_events * (file.n_pmt + file.n_conditions), cfg):
        return None
    names = condition_names_of(
        cfg.get("condition_names"), file.stored_names, file.n_conditions, file.path
    )
    describe_detector(cfg, names, file.n_pmt)  # bad geometry or roles stop before training
    _, val_rows = split_indices(file.n_events, float(cfg["val_fraction"]), int(cfg["seed"]))
    is_validation = np.zeros(file.n_events, bool)
    is_validation[val_rows] = True
    chunk_events = int(cfg.get("chunk_events", 32768))
    if chunk_events < 1:
        raise DataError(f"data.chunk_events={chunk_events} must be at least 1")
    return StreamedEvents(
        file,
        str(cfg["charges_key"]),
        str(cfg["conditions_key"]),
        names,
        is_validation,
        chunk_events,
        kept_pmts(cfg, file.n_pmt),
    )


def blocks_per_pass(events: StreamedEvents, block_events: int) -> int:
    """Blocks of `block_events` one pass over the training events yields (at least one)."""
    n_blocks = events.n_train // block_events
    if n_blocks == 0:
        raise DataError(
            f"{events.file.path}: {events.n_train} training events, fewer than one block of "
            f"{block_events} (trainer.batch_size x trainer.steps_per_execution); lower either"
        )
    return n_blocks


def shuffled_training_blocks(
    events: StreamedEvents,
    encode: Callable[[EventSet], EncodedBlock],
    block_events: int,
    shuffle_chunks: int,
    seed: int,
    start_block: int = 0,
) -> Iterator[EncodedBlock]:
    """Encoded training events in blocks of `block_events`, pass after pass, forever (the
    module docstring says how they are shuffled). A pass yields n_train // block_events
    blocks; the fewer than block_events left at its end (different ones each pass) wait for
    the next. `start_block` skips that many blocks (a resumed run continues the sequence)."""
    pass_index, skip = divmod(start_block, blocks_per_pass(events, block_events))
    while True:
        for block in _one_pass(events, encode, block_events, shuffle_chunks, (seed, pass_index)):
            if skip:
                skip -= 1
                continue
            yield block
        pass_index += 1


def _one_pass(
    events: StreamedEvents,
    encode: Callable[[EventSet], EncodedBlock],
    block_events: int,
    shuffle_chunks: int,
    seed: tuple[int, int],
) -> Iterator[EncodedBlock]:
    rng = np.random.default_rng(seed)
    bounds = events.chunk_bounds()
    order = rng.permutation(len(bounds))
    window = max(1, shuffle_chunks)
    carry_x = carry_c = None
    for first in range(0, len(order), window):
        parts = [encode(events.training_chunk(*bounds[i])) for i in order[first : first + window]]
        if carry_x is not None:
            parts.insert(0, (carry_x, carry_c))
        x = np.concatenate([p[0] for p in parts])
        c = np.concatenate([p[1] for p in parts])
        del parts
        permutation = rng.permutation(len(x))
        x, c = x[permutation], c[permutation]
        n_full = len(x) // block_events * block_events
        for start in range(0, n_full, block_events):
            yield x[start : start + block_events], c[start : start + block_events]
        carry_x, carry_c = x[n_full:], c[n_full:]
