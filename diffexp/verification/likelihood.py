"""Each PMT's charge judged against its expected charge by the detector's readout law.

The expectation (mean photoelectrons per PMT for an event's conditions) comes from an object
with `expected_pe(conditions) -> [N, n_pmt]` and a `physics` mapping holding
`spe_resolution` and `threshold_pe`: the detector simulator, or a learned light model
standing in for it on a user's own detector. Nothing here knows which one it is.

The readout law is the simulator's: n ~ Poisson(mu) photoelectrons, charge ~ Normal(n,
spe_resolution^2 n), charges below the threshold read 0. Its log-likelihood per event is the
statistic a physicist would use to tell a wrong charge model from the right one (Neyman-
Pearson), and it sees what a log-space histogram hides: whether low charges sit on the
1- and 2-PE peaks or in the valleys between them.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy.special import gammaln, ndtr

from diffexp.data import EventSet

# Above this expectation the photoelectron sum is replaced by its Gaussian limit
# (Normal(mu, mu (1 + spe^2))); below it the sum runs over n = 1 .. _MAX_PE.
GAUSSIAN_ABOVE_PE = 40.0
_MAX_PE = 100
# One absurd charge (a diverging model) must not outweigh the rest of the event.
MIN_LOG_LIKELIHOOD = -30.0
# PMT-entries evaluated at once in the photoelectron sum: bounds memory to ~100 MB.
_CHUNK = 100_000


class Expectation(Protocol):
    """What verification needs of a light model: the mean charge and the readout."""

    physics: dict[str, float]  # at least spe_resolution and threshold_pe

    def expected_pe(self, conditions: np.ndarray) -> np.ndarray: ...


def expected_charges(expectation: Expectation, events: EventSet) -> np.ndarray:
    """The expected charge [N, n_pmt] of each of `events`' PMT columns."""
    return np.asarray(expectation.expected_pe(events.conditions), dtype=np.float64)[
        :, events.pmt_ids
    ]


def pull_sigma(mean: np.ndarray, spe_resolution: float) -> np.ndarray:
    """sqrt(mu (1 + spe^2)): the charge's spread for Poisson photoelectrons smeared per PE."""
    return np.sqrt(np.maximum(mean * (1.0 + spe_resolution**2), 1e-6))


def _low_mean_log_likelihood(
    charge: np.ndarray, mean: np.ndarray, spe: float, threshold: float
) -> np.ndarray:
    n = np.arange(1, _MAX_PE + 1, dtype=np.float64)
    log_poisson = n * np.log(np.maximum(mean[:, None], 1e-12)) - mean[:, None] - gammaln(n + 1)
    sigma = np.maximum(spe * np.sqrt(n), 1e-3)
    hit = charge > 0
    log_density = -0.5 * ((charge[:, None] - n) / sigma) ** 2 - np.log(sigma * np.sqrt(2.0 * np.pi))
    below = np.log(np.maximum(ndtr((threshold - n) / sigma), 1e-300))
    terms = log_poisson + np.where(hit[:, None], log_density, below)
    summed = np.logaddexp.reduce(terms, axis=1)
    # no hit: also the zero-photoelectron term exp(-mu)
    return np.where(hit, summed, np.logaddexp(summed, -mean))


def pmt_log_likelihood(
    charges: np.ndarray, mean: np.ndarray, spe_resolution: float, threshold_pe: float
) -> np.ndarray:
    """log p(charge | mean) per PMT [N, n_pmt] (a density for hits, a probability for
    no hit), floored at MIN_LOG_LIKELIHOOD."""
    charges = np.asarray(charges, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    result = np.empty_like(charges)
    bright = mean > GAUSSIAN_ABOVE_PE
    sigma = pull_sigma(mean[bright], spe_resolution)
    result[bright] = -0.5 * ((charges[bright] - mean[bright]) / sigma) ** 2 - np.log(
        sigma * np.sqrt(2.0 * np.pi)
    )
    low_charge, low_mean = charges[~bright], mean[~bright]
    low = np.empty_like(low_charge)
    for start in range(0, low.size, _CHUNK):
        part = slice(start, start + _CHUNK)
        low[part] = _low_mean_log_likelihood(
            low_charge[part], low_mean[part], spe_resolution, threshold_pe
        )
    result[~bright] = low
    return np.maximum(result, MIN_LOG_LIKELIHOOD)


def draw_charges(mean: np.ndarray, spe_resolution: float, threshold_pe: float, rng) -> np.ndarray:
    """Charges drawn from the readout law for expected charges `mean` (any shape)."""
    n_pe = rng.poisson(mean).astype(np.float64)
    charge = n_pe + spe_resolution * np.sqrt(n_pe) * rng.standard_normal(n_pe.shape)
    return np.where(charge < threshold_pe, 0.0, charge)


# The log-likelihood's mean and spread as a function of the expectation, tabulated once per
# readout: log-spaced expectations, draws per expectation, and the seed of those draws.
_TABLE_MEANS = np.geomspace(1e-3, 1e4, 121)
_TABLE_DRAWS = 4000
_TABLE_SEED = 20261206


def log_likelihood_moments(spe_resolution: float, threshold_pe: float) -> tuple[np.ndarray, ...]:
    """(expectations, mean log-likelihood, its variance) per PMT under the readout law:
    what a PMT of that expectation scores when the charge model is right."""
    rng = np.random.default_rng(_TABLE_SEED)
    mean = np.repeat(_TABLE_MEANS[:, None], _TABLE_DRAWS, axis=1)
    draws = draw_charges(mean, spe_resolution, threshold_pe, rng)
    values = pmt_log_likelihood(draws, mean, spe_resolution, threshold_pe)
    return _TABLE_MEANS, values.mean(axis=1), values.var(axis=1)


def log_likelihood_standardised(
    log_likelihood: np.ndarray, mean: np.ndarray, moments: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Per event: (sum of log-likelihoods - its expectation) / its standard deviation, the
    expectation and variance interpolated (in log mu) from `moments`; ~N(0, 1) for a right
    charge model whatever the conditions, below 0 for a wrong one."""
    grid, expected, variance = moments
    log_mean = np.log(np.clip(mean, grid[0], grid[-1]))
    offset = np.interp(log_mean, np.log(grid), expected).sum(axis=1)
    spread = np.sqrt(np.interp(log_mean, np.log(grid), variance).sum(axis=1))
    return (log_likelihood.sum(axis=1) - offset) / np.maximum(spread, 1e-9)
