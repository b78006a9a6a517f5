"""Normalisation between physical events and the values the model trains on.

Charges span orders of magnitude (0 to hundreds of PE), so they are log1p-compressed and
then standardised per PMT; conditions are standardised per column. A PMT without a hit
(charge 0) is put at `no_hit_log_charge` in log space instead of log1p(0) = 0: with 0, no-hit
PMTs form a spike right below the smallest hit (the threshold, log1p(0.3) = 0.26), and the
smeared spike a generator produces spills over the threshold as extra single-PE hits
(measured on the demo: 10.7 instead of 3.3 hits of 0.3-0.7 PE per event). A gap keeps the two
apart (model=pmt: 2 units; with 1, the demo's model still made 0.7 hits too many per event
where 1-5 PE were expected); decoding maps everything below the smallest charge to 0.
The fitted statistics are saved with a run (`data_transform.json`) so generated events can
be decoded later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diffexp.data.events import EventSet
from diffexp.data.moments import RunningMoments
from diffexp.io_utils import atomic_write_json

_FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # version 1 had no no-hit gap (no_hit_log_charge = 0)


def _check_no_hit(no_hit_log_charge: float) -> None:
    if no_hit_log_charge > 0:
        raise ValueError(
            f"model.no_hit_log_charge={no_hit_log_charge} must be <= 0 (below every hit)"
        )


def _log_charges(charges: np.ndarray, no_hit_log_charge: float) -> np.ndarray:
    charges = np.asarray(charges, np.float64)
    return np.where(charges > 0, np.log1p(charges), no_hit_log_charge)


@dataclass(frozen=True, eq=False)
class EventTransform:
    """Per-PMT log1p standardisation of charges and per-column standardisation of conditions.

    `min_std` floors every standard deviation so a PMT that never fires (constant 0)
    maps to 0 instead of dividing by zero.
    """

    charge_mean: np.ndarray  # [n_pmt], of log1p(charge)
    charge_std: np.ndarray  # [n_pmt], of log1p(charge), >= min_std
    condition_mean: np.ndarray  # [k]
    condition_std: np.ndarray  # [k], >= min_std
    condition_names: tuple[str, ...]
    min_std: float
    no_hit_log_charge: float = 0.0  # log-space value of a charge of 0 (0.0: plain log1p)

    @classmethod
    def fit(
        cls, events: EventSet, min_std: float = 1e-3, no_hit_log_charge: float = 0.0
    ) -> EventTransform:
        """Statistics of the training events (fit on train only, never on validation)."""
        _check_no_hit(no_hit_log_charge)
        log_charges = _log_charges(events.charges, no_hit_log_charge)
        conditions = events.conditions.astype(np.float64)
        return cls.from_statistics(
            (log_charges.mean(axis=0), log_charges.std(axis=0)),
            (conditions.mean(axis=0), conditions.std(axis=0)),
            events.condition_names,
            min_std,
            no_hit_log_charge,
        )

    @classmethod
    def fit_chunks(
        cls, chunks: Iterable[EventSet], min_std: float = 1e-3, no_hit_log_charge: float = 0.0
    ) -> EventTransform:
        """`fit` over training events that arrive a chunk at a time (a file larger than
        memory), in one pass: the same numbers as `fit` on all of them, to rounding."""
        _check_no_hit(no_hit_log_charge)
        charges, conditions, names = RunningMoments(), RunningMoments(), None
        for chunk in chunks:
            charges.add(_log_charges(chunk.charges, no_hit_log_charge))
            conditions.add(chunk.conditions)
            names = chunk.condition_names
        if names is None:
            raise ValueError("EventTransform.fit_chunks: no chunks")
        return cls.from_statistics(
            (charges.mean, charges.std),
            (conditions.mean, conditions.std),
            names,
            min_std,
            no_hit_log_charge,
        )

    @classmethod
    def from_statistics(
        cls,
        charge_moments: tuple[np.ndarray, np.ndarray],
        condition_moments: tuple[np.ndarray, np.ndarray],
        condition_names: tuple[str, ...],
        min_std: float,
        no_hit_log_charge: float,
    ) -> EventTransform:
        """The transform of (mean, std) of the log charges and of the conditions."""
        return cls(
            charge_mean=charge_moments[0],
            charge_std=np.maximum(charge_moments[1], min_std),
            condition_mean=condition_moments[0],
            condition_std=np.maximum(condition_moments[1], min_std),
            condition_names=tuple(condition_names),
            min_std=float(min_std),
            no_hit_log_charge=float(no_hit_log_charge),
        )

    @property
    def n_pmt(self) -> int:
        return int(self.charge_mean.shape[0])

    def encode_charges(self, charges: np.ndarray) -> np.ndarray:
        """PE charges [..., n_pmt] -> model values (float32)."""
        log_charges = _log_charges(charges, self.no_hit_log_charge)
        return ((log_charges - self.charge_mean) / self.charge_std).astype(np.float32)

    def decode_charges(self, x: np.ndarray) -> np.ndarray:
        """Model values [..., n_pmt] -> PE charges (float32, clipped to >= 0; values below
        log1p(0) = 0, the no-hit side of the gap, read 0)."""
        log_charges = np.asarray(x, np.float64) * self.charge_std + self.charge_mean
        return np.maximum(np.expm1(log_charges), 0.0).astype(np.float32)

    def encode_conditions(self, conditions: np.ndarray) -> np.ndarray:
        """Physical conditions [..., k] -> model values (float32)."""
        encoded = (np.asarray(conditions, np.float64) - self.condition_mean) / self.condition_std
        return encoded.astype(np.float32)

    def decode_conditions(self, x: np.ndarray) -> np.ndarray:
        """Model values [..., k] -> physical conditions (float32)."""
        return (np.asarray(x, np.float64) * self.condition_std + self.condition_mean).astype(
            np.float32
        )

    def encode(self, events: EventSet) -> tuple[np.ndarray, np.ndarray]:
        """(encoded charges, encoded conditions) of an EventSet."""
        return self.encode_charges(events.charges), self.encode_conditions(events.conditions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": _FORMAT_VERSION,
            "charge_transform": "log1p_standardize",
            "charge_mean": self.charge_mean.tolist(),
            "charge_std": self.charge_std.tolist(),
            "condition_mean": self.condition_mean.tolist(),
            "condition_std": self.condition_std.tolist(),
            "condition_names": list(self.condition_names),
            "min_std": self.min_std,
            "no_hit_log_charge": self.no_hit_log_charge,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventTransform:
        if data.get("format_version") not in _READABLE_VERSIONS:
            raise ValueError(
                f"data transform format {data.get('format_version')!r} is not "
                f"{_FORMAT_VERSION}: re-create it by training with this version of diffexp"
            )
        return cls(
            charge_mean=np.asarray(data["charge_mean"], np.float64),
            charge_std=np.asarray(data["charge_std"], np.float64),
            condition_mean=np.asarray(data["condition_mean"], np.float64),
            condition_std=np.asarray(data["condition_std"], np.float64),
            condition_names=tuple(data["condition_names"]),
            min_std=float(data["min_std"]),
            no_hit_log_charge=float(data.get("no_hit_log_charge", 0.0)),
        )

    def save(self, path: str | Path) -> Path:
        """Write JSON (a run keeps it as data_transform.json); returns the path."""
        path = Path(path)
        atomic_write_json(path, self.to_dict())  # a kill never leaves half a transform
        return path

    @classmethod
    def load(cls, path: str | Path) -> EventTransform:
        return cls.from_dict(json.loads(Path(path).read_text()))
