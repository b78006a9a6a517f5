"""The in-memory event container and the seeded train/validation split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diffexp.data.errors import DataError

SIMULATED_CONDITION_NAMES: tuple[str, ...] = ("x_m", "y_m", "z_m", "energy_mev")


@dataclass(frozen=True, eq=False)
class EventSet:
    """Events as the model sees them: PMT charges (PE) and the conditions that produced them.

    `pmt_ids` are the detector's PMT indices of the charge columns (all PMTs when no
    selection was applied), so hit maps and the simulator can be matched to a subset.
    """

    charges: np.ndarray  # float32 [N, n_pmt], photoelectrons
    conditions: np.ndarray  # float32 [N, k]
    condition_names: tuple[str, ...]
    pmt_ids: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        charges = np.asarray(self.charges, dtype=np.float32)
        conditions = np.asarray(self.conditions, dtype=np.float32)
        if charges.ndim != 2 or conditions.ndim != 2:
            raise ValueError(
                f"EventSet needs 2-D charges and conditions, got {charges.shape} "
                f"and {conditions.shape}"
            )
        if charges.shape[0] != conditions.shape[0]:
            raise ValueError(
                f"EventSet: {charges.shape[0]} charge rows but {conditions.shape[0]} condition rows"
            )
        names = tuple(str(name) for name in self.condition_names)
        if len(names) != conditions.shape[1]:
            raise ValueError(
                f"EventSet: {len(names)} condition names for {conditions.shape[1]} conditions"
            )
        pmt_ids = np.arange(charges.shape[1]) if self.pmt_ids is None else self.pmt_ids
        pmt_ids = np.asarray(pmt_ids, dtype=np.int64)
        if pmt_ids.shape != (charges.shape[1],):
            raise ValueError(f"EventSet: {pmt_ids.shape} pmt_ids for {charges.shape[1]} PMTs")
        object.__setattr__(self, "charges", charges)
        object.__setattr__(self, "conditions", conditions)
        object.__setattr__(self, "condition_names", names)
        object.__setattr__(self, "pmt_ids", pmt_ids)

    @property
    def n_events(self) -> int:
        return int(self.charges.shape[0])

    @property
    def n_pmt(self) -> int:
        return int(self.charges.shape[1])

    @property
    def n_conditions(self) -> int:
        return int(self.conditions.shape[1])

    def subset(self, indices: np.ndarray) -> EventSet:
        """The events at `indices` (any integer index array or boolean mask)."""
        return EventSet(
            self.charges[indices], self.conditions[indices], self.condition_names, self.pmt_ids
        )

    def select_pmts(self, columns: np.ndarray) -> EventSet:
        """Keep only the charge columns at positions `columns` (in the given order)."""
        columns = np.asarray(columns, dtype=np.int64)
        return EventSet(
            self.charges[:, columns], self.conditions, self.condition_names, self.pmt_ids[columns]
        )


def split_indices(n_events: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, validation indices), each sorted: the split of `train_val_split`,
    which a file read in chunks (diffexp/data/streaming.py) shares without loading the events."""
    if not 0.0 < float(val_fraction) < 1.0:
        raise DataError(f"data.val_fraction={val_fraction} must be between 0 and 1 (exclusive)")
    n_val = int(round(n_events * float(val_fraction)))
    if n_val == 0 or n_val == n_events:
        side = "validation" if n_val == 0 else "training"
        raise DataError(
            f"data.val_fraction={val_fraction} of {n_events} events leaves the {side} "
            "set empty: use more events or another val_fraction"
        )
    order = np.random.default_rng(seed).permutation(n_events)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_val_split(events: EventSet, val_fraction: float, seed: int) -> tuple[EventSet, EventSet]:
    """Split into disjoint train and validation sets, the same for the same seed.

    Indices on each side are kept sorted, so a split is reproducible and easy to inspect;
    the trainer shuffles batches itself.
    """
    train_idx, val_idx = split_indices(events.n_events, val_fraction, seed)
    return events.subset(train_idx), events.subset(val_idx)
