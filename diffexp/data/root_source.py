"""Load a user's events from a ROOT file (uproot, no ROOT install): a TTree with one branch
per condition and one charge branch, fixed-size (`float charges[128]`) or jagged
(`std::vector<float>`, every entry of the same length), names as config keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from diffexp.data.config import require
from diffexp.data.errors import DataError
from diffexp.data.events import EventSet
from diffexp.data.user_arrays import events_from_arrays


def _tree(path: Path, tree_key: str):
    if not path.is_file():
        raise DataError(f"data.path={path}: file not found; point data.path at your ROOT file")
    try:
        handle = uproot.open(path)
    except (OSError, ValueError) as error:
        raise DataError(f"data.path={path}: not a readable ROOT file ({error})") from None
    if tree_key not in handle:
        raise DataError(
            f"{path}: no TTree {tree_key!r} (keys: {sorted(handle.keys(cycle=False))}); "
            "set data.tree"
        )
    return handle[tree_key]


def _branch(tree, name: str, path: Path, config_key: str) -> ak.Array:
    if name not in tree:
        raise DataError(
            f"{path}: the tree has no branch {name!r} (branches: {sorted(tree.keys())}); "
            f"set data.{config_key}"
        )
    return tree[name].array(library="ak")


def _charges(array: ak.Array, path: Path, branch: str) -> np.ndarray:
    """[N, n_pmt] from a fixed-size or jagged branch whose entries all have one length."""
    if array.ndim != 2:
        raise DataError(f"{path}: branch {branch!r} holds one number per event; need one per PMT")
    counts = np.asarray(ak.num(array, axis=1))
    if counts.size and np.any(counts != counts[0]):
        raise DataError(
            f"{path}: branch {branch!r} has {counts.min()} to {counts.max()} charges per event; "
            "every event needs one charge per PMT (write 0 for PMTs without a hit)"
        )
    return np.asarray(ak.to_numpy(ak.to_regular(array, axis=1)), dtype=np.float64)


def load_root_events(cfg: dict[str, Any]) -> EventSet:
    """Events from the TTree `data.tree` of `data.path`; conditions from the branches
    `data.condition_branches` (their names are the condition names)."""
    path = Path(str(require(cfg, "path"))).expanduser()
    tree = _tree(path, str(require(cfg, "tree")))
    charge_branch = str(require(cfg, "charges_branch"))
    condition_branches = [str(name) for name in require(cfg, "condition_branches")]
    charges = _charges(_branch(tree, charge_branch, path, "charges_branch"), path, charge_branch)
    columns = []
    for name in condition_branches:
        values = _branch(tree, name, path, "condition_branches")
        if values.ndim != 1:
            raise DataError(f"{path}: condition branch {name!r} must hold one number per event")
        columns.append(np.asarray(ak.to_numpy(values), dtype=np.float64))
    return events_from_arrays(
        charges,
        np.stack(columns, axis=1),
        np.array(condition_branches),
        cfg.get("condition_names"),
        path,
        charge_branch,
        "condition_branches",
    )
