"""Keep the K most useful PMTs of a ranking written by `python -m diffexp.select_pmts`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from diffexp.data.config import to_plain
from diffexp.data.errors import DataError
from diffexp.data.events import EventSet


def read_pmt_ranking(path: str | Path, n_pmt: int) -> list[int]:
    """The PMT indices of the JSON file {"ranking": [...]}, checked against `n_pmt` PMTs."""
    path = Path(path).expanduser()
    try:
        ranking = json.loads(path.read_text())["ranking"]
    except FileNotFoundError:
        raise DataError(
            f"data.pmt_selection={path}: file not found; run `python -m diffexp.select_pmts` "
            "or set data.pmt_selection=null"
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        raise DataError(
            f'data.pmt_selection={path}: expected JSON {{"ranking": [pmt indices]}}'
        ) from None
    if not isinstance(ranking, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ranking
    ):
        raise DataError(f"data.pmt_selection={path}: 'ranking' must be a list of integers")
    if not ranking:
        raise DataError(f"data.pmt_selection={path}: 'ranking' is empty")
    if len(set(ranking)) != len(ranking):
        raise DataError(f"data.pmt_selection={path}: 'ranking' lists a PMT more than once")
    out_of_range = [i for i in ranking if not 0 <= i < n_pmt]
    if out_of_range:
        raise DataError(
            f"data.pmt_selection={path}: PMT index {out_of_range[0]} is outside 0..{n_pmt - 1} "
            "(the ranking was made for another detector)"
        )
    return ranking


def kept_pmts(cfg: dict[str, Any], n_pmt: int) -> np.ndarray | None:
    """Sorted PMT indices that `data.pmt_selection` / `data.n_pmts_kept` keep; None: all."""
    selection, n_kept = cfg.get("pmt_selection"), cfg.get("n_pmts_kept")
    if selection is None:
        if n_kept is not None:
            raise DataError(
                f"data.n_pmts_kept={n_kept} needs data.pmt_selection (a ranking file) to pick from"
            )
        return None
    ranking = read_pmt_ranking(selection, n_pmt)
    if n_kept is None:
        n_kept = len(ranking)
    if isinstance(n_kept, bool) or int(n_kept) != n_kept or not 1 <= int(n_kept) <= len(ranking):
        raise DataError(
            f"data.n_pmts_kept={n_kept} must be an integer between 1 and {len(ranking)} "
            f"(the length of the ranking in {selection})"
        )
    return np.sort(np.asarray(ranking[: int(n_kept)], dtype=np.int64))


def apply_pmt_selection(events: EventSet, data_cfg: dict[str, Any] | DictConfig) -> EventSet:
    """Keep the selected PMT columns (in detector order), or all when no selection is set.

    Expects full-detector events (every PMT, as loaded or simulated); the kept columns'
    detector indices stay in `events.pmt_ids`.
    """
    kept = kept_pmts(to_plain(data_cfg), events.n_pmt)
    if kept is None:
        return events
    return events.select_pmts(kept)
