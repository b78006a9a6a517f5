"""The detector's single-photoelectron readout, applied to generated charges.

A PMT counts whole photoelectrons; its readout smears a count n into a charge
n + spe_resolution * sqrt(n) * z and reads charges below the hit threshold as 0. The
generated charges of a diffusion model are continuous: at low charge it learns the 1- and
2-PE peaks only as a smeared bump (measured on the demo model: the 1-PE peak-to-valley
ratio 1.28 against 1.75, the distance of low charges to the nearest integer its strongest
single giveaway). The readout is known, so it need not be learned.

Each generated hit gets one Gibbs step of the readout law. Its photoelectron count n is
drawn from the posterior P(n | charge) ∝ P(n) N(charge; n, sigma_n); a count below
`resolve_pe_below` is read out anew (n smeared by the readout, conditioned on staying above
the threshold so the model's hit count is kept), a larger count keeps the charge as
generated. With the right prior that step leaves the detector's own events exactly in law:
verify's classifier told the simulator's events passed through it from fresh ones at AUC
0.49, its floor (docs/physics.md; the calibration panel holds them to a fresh simulation's
bound, and tests/data/test_readout.py checks the spectrum and each PMT's share). Rounding to
the nearest whole PE, this module's first version, read 0.63 there: it moved 2-PE hits to
1 PE and piled charges up at its cut, so it flattered a model biased the other way and
capped a perfect one.

The prior of a hit is Poisson(mu) of the detector's expectation for that PMT and event,
the one the classifier compares with (the simulator's, or the light model fitted on a
user's training events), where the caller has it. Where it has none, the prior is
deconvolved from the generated hits (an EM fit of the readout mixture to their low-charge
histogram): that keeps the spectrum of all PMTs together but not each PMT's (AUC 0.61 on
the simulator's own events). Either way the model decides whether a PMT fired and, where
its charge lies on a photoelectron peak, how many; the prior only settles charges between
peaks. A user's own detector turns it on with its measured single-PE resolution
(`data.readout`, docs/your-detector.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln
from scipy.stats import norm, truncnorm

from diffexp.data.config import to_plain
from diffexp.data.errors import DataError

# Charges further than this many readout sigmas above the largest resolved count cannot
# have come from it (posterior < 1e-8): they keep their value without a posterior.
_WINDOW_SIGMAS = 6.0
_EM_ITERATIONS = 500
_EM_TOLERANCE = 1e-7
_EM_BIN_PE = 0.005  # far below the narrowest readout width (spe_resolution at 1 PE)


@dataclass(frozen=True)
class PeReadout:
    """Generated hits whose photoelectron count is below `resolve_pe_below` are read out
    anew with `spe_resolution` (sigma = spe_resolution * sqrt(n)) above `threshold_pe`."""

    resolve_pe_below: float
    spe_resolution: float
    threshold_pe: float

    @property
    def largest_resolved_count(self) -> int:
        return int(np.ceil(self.resolve_pe_below) - 1)

    def window_pe(self) -> float:
        """Charges below this may hold a resolved count; the rest are kept as generated."""
        top = self.largest_resolved_count
        return top + _WINDOW_SIGMAS * self.spe_resolution * np.sqrt(top) + 0.5

    def apply(
        self,
        charges: np.ndarray,
        rng: np.random.Generator,
        expected_pe: np.ndarray | None = None,
    ) -> np.ndarray:
        """A copy of `charges` [N, n_pmt] (PE; 0 = no hit) with the low hits read out anew.

        `expected_pe` [N, n_pmt]: the mean photoelectrons the model was conditioned on (the
        simulator's expectation or a learned light model); the count prior of each hit is
        then Poisson(expected_pe), which keeps each PMT's law, not only the spectrum of all
        PMTs together. Without it the prior is deconvolved from the generated hits.
        """
        out = np.array(charges, dtype=np.float32, copy=True)
        if self.spe_resolution == 0:  # a perfect readout: the count is the nearest integer
            low = (out > 0) & (out < self.resolve_pe_below - 0.5)
            out[low] = np.maximum(np.maximum(np.rint(out[low]), 1.0), self.threshold_pe)
            return out
        window = (out > 0) & (out < self.window_pe())
        if not window.any():
            return out
        charge = out[window].astype(np.float64)
        counts = self._counts()
        log_posterior = np.log(np.maximum(self._likelihood(charge, counts), 1e-300))
        if expected_pe is None:
            log_posterior += np.log(np.maximum(self.count_prior(charge), 1e-300))[None, :]
        else:
            mean = np.maximum(np.asarray(expected_pe, np.float64)[window], 1e-12)[:, None]
            log_posterior += counts[None, :] * np.log(mean) - mean - gammaln(counts + 1)[None, :]
        posterior = np.exp(log_posterior - log_posterior.max(axis=1, keepdims=True))
        posterior /= posterior.sum(axis=1, keepdims=True)
        draws = (posterior.cumsum(axis=1) < rng.random(charge.size)[:, None]).sum(axis=1)
        n_pe = counts[np.minimum(draws, counts.size - 1)]
        redo = n_pe < self.resolve_pe_below
        sigma = self.spe_resolution * np.sqrt(n_pe[redo])
        lower = (self.threshold_pe - n_pe[redo]) / sigma  # in standard deviations
        charge[redo] = truncnorm.rvs(lower, np.inf, loc=n_pe[redo], scale=sigma, random_state=rng)
        out[window] = charge
        return out

    def count_prior(self, charge: np.ndarray) -> np.ndarray:
        """P(n) for n = 1..K of hits, deconvolved from `charge` (the hits in the window).

        EM for a Gaussian mixture with known centres and widths, seen through the window
        (threshold, window_pe): each count's weight is its responsibility divided by the
        share of its charges the window shows, so counts straddling the window's top edge
        keep their population weight.
        """
        counts = self._counts()
        sigma = self.spe_resolution * np.sqrt(counts)
        top, threshold = self.window_pe(), self.threshold_pe
        seen = norm.cdf(top, counts, sigma) - norm.cdf(threshold, counts, sigma)
        # On a fine histogram, not per hit: the same fit, a thousand times fewer rows.
        edges = np.arange(threshold, top + _EM_BIN_PE, _EM_BIN_PE)
        population, _ = np.histogram(charge, bins=edges)
        filled = population > 0
        centres = 0.5 * (edges[:-1] + edges[1:])[filled]
        population = population[filled].astype(np.float64)
        likelihood = self._likelihood(centres, counts)
        weights = np.full(counts.size, 1.0 / counts.size)
        for _ in range(_EM_ITERATIONS):
            responsibility = likelihood * weights[None, :]
            responsibility /= np.maximum(responsibility.sum(axis=1, keepdims=True), 1e-300)
            updated = (population @ responsibility) / np.maximum(seen, 1e-12)
            updated /= updated.sum()
            converged = np.abs(updated - weights).max() < _EM_TOLERANCE
            weights = updated
            if converged:
                break
        return weights

    def _counts(self) -> np.ndarray:
        """Photoelectron counts a charge in the window can hold: 1 .. a few sigmas above it."""
        top = self.window_pe()
        largest = np.ceil(top + _WINDOW_SIGMAS * self.spe_resolution * np.sqrt(top))
        return np.arange(1.0, largest + 1)

    def _likelihood(self, charge: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """[hits, counts]: the readout's charge density of each count at each charge."""
        sigma = self.spe_resolution * np.sqrt(counts)
        return norm.pdf(charge[:, None], counts[None, :], sigma[None, :])


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
    if below <= 1.0 or resolution < 0:
        raise DataError(
            f"data.readout: resolve_pe_below={below} must be > 1 PE (counts below it are read "
            f"out anew) and spe_resolution={resolution} >= 0"
        )
    return PeReadout(below, resolution, float(threshold_pe))
