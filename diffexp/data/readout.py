"""The detector's single-photoelectron readout, applied to generated charges.

A PMT counts whole photoelectrons; its readout smears a count n into a charge
n + spe_resolution * sqrt(n) * z and reads charges below the hit threshold as 0. The
generated charges of a diffusion model are continuous: at low charge it learns the 1- and
2-PE peaks only as a smeared bump (measured on the demo model: the 1-PE peak-to-valley
ratio 1.28 against 1.75, the distance of low charges to the nearest integer its strongest
single giveaway). The readout is known, so it need not be learned: below `resolve_pe_below`
a generated hit is read as a whole number of photoelectrons (the nearest, at least 1) and
re-smeared by the readout, conditioned on staying above the threshold so the model's hit
count is kept. Above it the model's charge is used as generated: there the smearing is a
small share of the Poisson width and re-smearing would only add variance.

This is dequantisation in reverse (the model decides how many photoelectrons, the readout
how they look), the discrete channel of the physics issue in its cheapest form: no
retraining, applied at generation. A user's own detector turns it on with its measured
single-PE resolution (`data.readout`, docs/your-detector.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import truncnorm

from diffexp.data.config import to_plain
from diffexp.data.errors import DataError


@dataclass(frozen=True)
class PeReadout:
    """Generated hits below `resolve_pe_below` PE become whole photoelectrons read out
    with `spe_resolution` (sigma = spe_resolution * sqrt(n)) above `threshold_pe`."""

    resolve_pe_below: float
    spe_resolution: float
    threshold_pe: float

    def apply(self, charges: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A copy of `charges` [N, n_pmt] (PE; 0 = no hit) with the low hits read out anew."""
        out = np.array(charges, dtype=np.float32, copy=True)
        low = (out > 0) & (out < self.resolve_pe_below)
        n_pe = np.maximum(np.rint(out[low]), 1.0).astype(np.float64)
        if self.spe_resolution == 0:
            out[low] = np.maximum(n_pe, self.threshold_pe)
            return out
        sigma = self.spe_resolution * np.sqrt(n_pe)
        lower = (self.threshold_pe - n_pe) / sigma  # in standard deviations
        out[low] = truncnorm.rvs(lower, np.inf, loc=n_pe, scale=sigma, random_state=rng)
        return out


def readout_from_config(data_cfg: Mapping[str, Any] | Any, threshold_pe: float) -> PeReadout | None:
    """The readout of a run's `data.readout`, or None where it is off (or the run predates
    it). `threshold_pe`: the hit threshold generation applies (the simulator's, or the
    smallest charge of a user's file)."""
    node = data_cfg.get("readout")  # only this node: the rest may hold unset `???` keys
    readout = {} if node is None else to_plain(node, "data.readout")
    below = readout.get("resolve_pe_below")
    if below is None:
        return None
    resolution = readout.get("spe_resolution")
    if resolution is None:
        raise DataError(
            f"data.readout.resolve_pe_below={below} needs data.readout.spe_resolution (your "
            "PMTs' single-PE charge resolution, sigma / mean at 1 PE): set it, or set "
            "resolve_pe_below=null to use the model's charges as generated"
        )
    below, resolution = float(below), float(resolution)
    if below <= 0.5 or resolution < 0:
        raise DataError(
            f"data.readout: resolve_pe_below={below} must be > 0.5 PE and "
            f"spe_resolution={resolution} >= 0"
        )
    return PeReadout(below, resolution, float(threshold_pe))
