"""Fisher information of the PMT charges about an event's vertex and energy.

The photoelectron count of PMT i is Poisson with mean mu_i(theta), theta = (x, y, z, E), so
PMT i adds J_i^T J_i / mu_i to the event's Fisher information (J_i = d mu_i / d theta), and
the Cramér–Rao bound of theta_k is sqrt((F^-1)_kk). A prior information F_prior =
diag(1 / var(theta)) over the sampled conditions (what is known before any PMT is read)
keeps F invertible for fewer than four PMTs and does not favour any one PMT.
"""

from __future__ import annotations

import numpy as np

from diffexp.data import DetectorSimulator

PARAMETER_NAMES: tuple[str, ...] = ("x_m", "y_m", "z_m", "energy_mev")


def expected_pe_jacobian(
    simulator: DetectorSimulator,
    conditions: np.ndarray,
    position_step_m: float = 1e-3,
    relative_energy_step: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """mu [N, n_pmt] and d mu / d theta [N, n_pmt, 4] by central finite differences."""
    conditions = np.asarray(conditions, dtype=np.float64)
    mu = simulator.expected_pe(conditions)
    jacobian = np.empty(mu.shape + (4,))
    for k in range(4):
        step = np.full(len(conditions), position_step_m)
        if k == 3:
            step = relative_energy_step * np.abs(conditions[:, 3])
        shift = np.zeros_like(conditions)
        shift[:, k] = step
        plus = simulator.expected_pe(conditions + shift)
        minus = simulator.expected_pe(conditions - shift)
        jacobian[..., k] = (plus - minus) / (2.0 * step[:, None])
    return mu, jacobian


def per_pmt_information(mu: np.ndarray, jacobian: np.ndarray) -> np.ndarray:
    """Fisher information [N, n_pmt, 4, 4] that each PMT carries about each event."""
    return np.einsum("npi,npj->npij", jacobian, jacobian) / mu[..., None, None]


def prior_information(conditions: np.ndarray) -> np.ndarray:
    """diag(1 / var) of the conditions [4, 4]: the information before any PMT is read."""
    variance = np.var(np.asarray(conditions, dtype=np.float64), axis=0)
    return np.diag(1.0 / np.maximum(variance, 1e-12))


def event_bounds(information: np.ndarray, subset: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Cramér–Rao bound per event [N, 4] (x, y, z in m, E in MeV) for the PMTs in `subset`."""
    total = information[:, subset].sum(axis=1) + prior
    return np.sqrt(np.diagonal(np.linalg.inv(total), axis1=1, axis2=2))


def resolution(
    information: np.ndarray, subset: np.ndarray, prior: np.ndarray, conditions: np.ndarray
) -> np.ndarray:
    """Mean Cramér–Rao resolution [4] over events: x, y, z in m and E relative (sigma_E / E)."""
    bounds = event_bounds(information, subset, prior)
    bounds[:, 3] /= np.asarray(conditions, dtype=np.float64)[:, 3]
    return bounds.mean(axis=0)
