"""The learned light model seen through the part of the simulator the verification uses,
so pulls, chi2 per PMT and hit expectations work on a user's data with no simulator:
`expected_pe(conditions)` (columns indexed by the detector's PMT ids, as the simulator's)
and `physics` (the single-PE resolution the pulls' variance needs, and the threshold).

It has no `simulate`: nothing may draw events from a fitted mean as if it were the detector
(the bad reference of a user's data shifts the held-out events' labels instead)."""

from __future__ import annotations

import numpy as np

from diffexp.models.light_model import LightModel


class LearnedExpectation:
    """`expected_pe` and `physics` of a fitted light model over the PMTs `pmt_ids`."""

    def __init__(self, model: LightModel, pmt_ids: np.ndarray) -> None:
        self.model = model
        self.pmt_ids = np.asarray(pmt_ids, np.int64)
        self.n_pmt = int(self.pmt_ids.max()) + 1  # the detector's PMT count, as far as known
        # pulls take variance = mu (1 + spe_resolution^2): the fitted variance over mu.
        self.physics = {
            "spe_resolution": float(np.sqrt(max(model.variance_factor - 1.0, 0.0))),
            "threshold_pe": model.threshold_pe,
        }

    def expected_pe(self, conditions: np.ndarray) -> np.ndarray:
        """Mean charge [N, n_pmt] (float64); PMTs the model never saw read 1e-6."""
        conditions = np.asarray(conditions, np.float64)
        out = np.full((len(conditions), self.n_pmt), 1e-6)
        out[:, self.pmt_ids] = self.model.expected_pe(conditions)
        return out
