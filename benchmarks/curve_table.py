"""The learning-curve table `record_curves` writes, read back for the replay: each recorded
configuration's per-epoch validation losses and seconds, and the overheads around them.

A sampler proposes any point of the search space; the table holds a few dozen. `nearest`
maps a proposal to the recorded configuration with the same choices whose continuous values
are closest (log scale where the space is log): the sampler keeps its model of the real
space (its ordering of learning rates, its categories), and the curve it gets back is a real
one. Sampling from the table's points as one categorical parameter was the alternative; it
would hide that ordering from TPE and QMC and make every sampler look like random search.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffexp.data.errors import DataError

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Curve:
    """One recorded trial: what a simulated trial with these params costs and reports."""

    params: dict[str, Any]
    val_loss: tuple[float, ...]
    epoch_seconds: tuple[float, ...]  # compile excluded
    startup_seconds: float  # data, model build and writes of a warm worker's trial
    compile_seconds: float  # the first epoch's excess
    failed: bool = False  # the recorded run ended in an error after its last listed epoch
    shape: str = ""  # the trainer cache's shape key (digest): trials sharing it share a compile


@dataclass(frozen=True)
class CurveTable:
    curves: tuple[Curve, ...]
    fresh_worker_seconds: float  # a new process importing TensorFlow and the trainer
    epochs: int
    log_params: frozenset[str]  # continuous parameters compared on a log scale
    meta: dict[str, Any]

    def nearest(self, params: dict[str, Any]) -> Curve:
        """The recorded curve closest to `params` (see the module docstring); a proposal whose
        choices were never recorded falls back to the nearest over all parameters."""
        same = [c for c in self.curves if _same_choices(c.params, params)]
        return min(same or self.curves, key=lambda c: self._distance(c.params, params))

    def _distance(self, recorded: dict[str, Any], proposed: dict[str, Any]) -> float:
        total = 0.0
        for name, value in proposed.items():
            other = recorded.get(name)
            if isinstance(value, str) or isinstance(other, str):
                total += 0.0 if value == other else 1.0
                continue
            a, b = float(value), float(other)
            if name in self.log_params:
                a, b = math.log(a), math.log(b)
            total += (a - b) ** 2 / self._span(name) ** 2
        return total

    def _span(self, name: str) -> float:
        values = [float(c.params[name]) for c in self.curves]
        if name in self.log_params:
            values = [math.log(v) for v in values]
        return (max(values) - min(values)) or 1.0


def _same_choices(recorded: dict[str, Any], proposed: dict[str, Any]) -> bool:
    """Equal on every parameter that is not a float (the choices)."""
    return all(
        recorded.get(name) == value
        for name, value in proposed.items()
        if not isinstance(value, float)
    )


def choices_shape(params: dict[str, Any]) -> str:
    """The shape of a trial recorded without one (a table before the trainer cache): its
    choices. Phase 1's choices (hidden_dim, t_emb_dim) are its shape key; its float, the
    learning rate, is not in the key."""
    return json.dumps({k: v for k, v in params.items() if not isinstance(v, float)}, sort_keys=True)


def from_dict(table: dict[str, Any], source: str = "table") -> CurveTable:
    """A CurveTable from `record_curves`' JSON; DataError naming `source` if it is not one."""
    if table.get("schema_version") != SCHEMA_VERSION:
        raise DataError(
            f"{source}: schema_version {table.get('schema_version')!r}, expected {SCHEMA_VERSION}; "
            "re-record it with python -m benchmarks.record_curves"
        )
    try:
        curves = tuple(
            Curve(
                params=dict(t["params"]),
                val_loss=tuple(float(v) for v in t["val_loss"]),
                epoch_seconds=tuple(float(s) for s in t["epoch_seconds"]),
                startup_seconds=float(t["startup_seconds"]),
                compile_seconds=float(t["compile_seconds"]),
                failed=bool(t.get("error")),
                shape=str(t.get("shape") or choices_shape(t["params"])),
            )
            for t in table["trials"]
        )
        log_params = frozenset(
            name for name, text in table.get("space", {}).items() if "log=True" in str(text)
        )
        return CurveTable(
            curves=curves,
            fresh_worker_seconds=float(table["fresh_worker_seconds"]),
            epochs=int(table["epochs"]),
            log_params=log_params,
            meta={k: v for k, v in table.items() if k != "trials"},
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{source}: not a curve table ({type(error).__name__}: {error})") from error


def load(path: Path) -> CurveTable:
    """Read a table file; DataError naming it if it is missing or malformed."""
    path = Path(path)
    try:
        return from_dict(json.loads(path.read_text()), str(path))
    except FileNotFoundError as error:
        raise DataError(
            f"{path}: no such curve table; record one with python -m benchmarks.record_curves"
        ) from error
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not JSON ({error})") from error
