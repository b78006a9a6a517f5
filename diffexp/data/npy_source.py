"""Load a user's events from a folder of `.npy` files (diffexp/data/event_files.py) whole,
checked as every other source is; data.streaming reads the same folder in chunks instead."""

from __future__ import annotations

from typing import Any

from diffexp.data.event_files import NpyFolder, open_event_file
from diffexp.data.events import EventSet
from diffexp.data.user_arrays import events_from_arrays


def load_npy_events(cfg: dict[str, Any]) -> EventSet:
    """Events from the folder `data.path`; DataError naming the file on any problem."""
    folder = open_event_file(cfg)
    assert isinstance(folder, NpyFolder)
    charges, conditions = folder.read(0, folder.n_events)
    return events_from_arrays(
        charges,
        conditions,
        folder.stored_names,
        cfg.get("condition_names"),
        folder.path,
        str(cfg["charges_key"]),
        str(cfg["conditions_key"]),
    )
