"""Per-column mean and standard deviation over rows that arrive a chunk at a time (Chan et
al.'s pairwise update of the mean and the sum of squared deviations), so the normalisation
of a file larger than memory is fitted in one pass and equals the whole-array numbers to
rounding (float64 throughout; no sum-of-squares cancellation)."""

from __future__ import annotations

import numpy as np


class RunningMoments:
    """`add` row blocks [n, d]; `mean` and `std` (population, as np.std) of all rows seen."""

    def __init__(self) -> None:
        self.count = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def add(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, np.float64)
        n = rows.shape[0]
        if n == 0:
            return
        block_mean = rows.mean(axis=0)
        block_m2 = np.square(rows - block_mean).sum(axis=0)
        if self._mean is None:
            self.count, self._mean, self._m2 = n, block_mean, block_m2
            return
        total = self.count + n
        delta = block_mean - self._mean
        self._mean = self._mean + delta * (n / total)
        self._m2 = self._m2 + block_m2 + np.square(delta) * (self.count * n / total)
        self.count = total

    @property
    def mean(self) -> np.ndarray:
        if self._mean is None:
            raise ValueError("RunningMoments: no rows were added")
        return self._mean

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self._m2 / self.count) if self._m2 is not None else self.mean
