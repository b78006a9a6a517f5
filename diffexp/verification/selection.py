"""Rank PMTs by the vertex and energy information they add, and compare the ranking with
random and evenly spaced subsets through the Cramér–Rao resolution.

Greedy log-det maximisation (D-optimal design): start from the prior information and add,
one at a time, the PMT that most increases the mean over events of log det F_event. Each
PMT's information about an event is rank one, g g^T with g = J / sqrt(mu), so by the matrix
determinant lemma its gain is log(1 + g^T F^-1 g): exact, and cheap for every candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffexp.data import DetectorSimulator
from diffexp.verification.fisher import (
    expected_pe_jacobian,
    per_pmt_information,
    prior_information,
    resolution,
)


def greedy_ranking(mu: np.ndarray, jacobian: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """All PMTs, best first, by greedy maximisation of mean_events log det F."""
    n_events, n_pmt, n_par = jacobian.shape
    g = jacobian / np.sqrt(mu)[..., None]  # [N, n_pmt, 4]
    inverse = np.broadcast_to(np.linalg.inv(prior), (n_events, n_par, n_par)).copy()
    remaining = np.ones(n_pmt, dtype=bool)
    ranking = []
    for _ in range(n_pmt):
        projected = np.einsum("nij,npj->npi", inverse, g)  # F^-1 g per event and PMT
        gain = np.log1p(np.einsum("npi,npi->np", g, projected)).mean(axis=0)
        gain[~remaining] = -np.inf
        best = int(np.argmax(gain))
        ranking.append(best)
        remaining[best] = False
        # Sherman–Morrison: (F + g g^T)^-1 = F^-1 - F^-1 g g^T F^-1 / (1 + g^T F^-1 g)
        u = projected[:, best]
        denominator = 1.0 + np.einsum("ni,ni->n", g[:, best], u)
        inverse -= np.einsum("ni,nj->nij", u, u) / denominator[:, None, None]
    return np.array(ranking, dtype=np.int64)


def evenly_spaced_order(positions: np.ndarray) -> np.ndarray:
    """All PMTs ordered by farthest-point sampling: any prefix is spread evenly in space."""
    positions = np.asarray(positions, dtype=np.float64)
    order = [0]
    distance = np.linalg.norm(positions - positions[0], axis=1)
    for _ in range(len(positions) - 1):
        nxt = int(np.argmax(distance))
        order.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(positions - positions[nxt], axis=1))
    return np.array(order, dtype=np.int64)


@dataclass
class ResolutionCurves:
    """Mean Cramér–Rao resolution [len(k_values), 4] of each strategy's first K PMTs."""

    k_values: list[int]
    greedy: np.ndarray
    even: np.ndarray
    random_mean: np.ndarray
    random_min: np.ndarray
    random_max: np.ndarray


def resolution_curves(
    information: np.ndarray,
    prior: np.ndarray,
    conditions: np.ndarray,
    ranking: np.ndarray,
    even_order: np.ndarray,
    k_values: list[int],
    n_random: int,
    seed: int,
) -> ResolutionCurves:
    """Resolution vs number of PMTs kept for the ranking, evenly spaced and random subsets."""
    n_pmt = information.shape[1]
    rng = np.random.default_rng(seed)
    random_orders = [rng.permutation(n_pmt) for _ in range(n_random)]

    def curve(order: np.ndarray) -> np.ndarray:
        return np.array([resolution(information, order[:k], prior, conditions) for k in k_values])

    random = np.stack([curve(order) for order in random_orders])
    return ResolutionCurves(
        k_values=list(k_values),
        greedy=curve(ranking),
        even=curve(even_order),
        random_mean=random.mean(axis=0),
        random_min=random.min(axis=0),
        random_max=random.max(axis=0),
    )


@dataclass
class SelectionResult:
    """The ranking and its resolution curves; `to_dict` is the JSON that
    `data.pmt_selection` reads ("ranking", best first)."""

    ranking: np.ndarray
    even_order: np.ndarray
    curves: ResolutionCurves
    n_events: int
    seed: int

    def to_dict(self) -> dict:
        def table(values: np.ndarray) -> dict[str, list[float]]:
            return {
                name: [float(v) for v in values[:, p]] for p, name in enumerate(RESOLUTION_NAMES)
            }

        c = self.curves
        return {
            "ranking": [int(i) for i in self.ranking],
            "n_pmt": int(len(self.ranking)),
            "method": "greedy max of mean_events log det Fisher(x, y, z, E) of Poisson PE",
            "n_events": self.n_events,
            "seed": self.seed,
            "k_values": c.k_values,
            "resolution_units": "x, y, z: m; energy: sigma_E / E (mean Cramér–Rao bound)",
            "cramer_rao": {
                "greedy": table(c.greedy),
                "evenly_spaced": table(c.even),
                "random_mean": table(c.random_mean),
                "random_min": table(c.random_min),
                "random_max": table(c.random_max),
            },
            "evenly_spaced_order": [int(i) for i in self.even_order],
        }


RESOLUTION_NAMES: tuple[str, ...] = ("x_m", "y_m", "z_m", "energy_relative")


def select_pmts(
    simulator: DetectorSimulator,
    n_events: int,
    k_values: list[int] | None,
    n_random: int,
    seed: int,
    position_step_m: float = 1e-3,
    relative_energy_step: float = 1e-3,
) -> SelectionResult:
    """Rank the simulator's PMTs over `n_events` sampled conditions and compute the curves.

    `k_values` are clipped to the detector (None: powers of two and all PMTs).
    """
    n_pmt = simulator.n_pmt
    if k_values is None:
        k_values = [2**i for i in range(2, int(np.log2(n_pmt)) + 1)] + [n_pmt]
    k_values = sorted({min(int(k), n_pmt) for k in k_values if int(k) >= 1})
    conditions = simulator.sample_conditions(n_events, np.random.default_rng(seed))
    mu, jacobian = expected_pe_jacobian(
        simulator, conditions, position_step_m, relative_energy_step
    )
    prior = prior_information(conditions)
    ranking = greedy_ranking(mu, jacobian, prior)
    even = evenly_spaced_order(simulator.geometry.positions)
    curves = resolution_curves(
        per_pmt_information(mu, jacobian),
        prior,
        conditions,
        ranking,
        even,
        k_values,
        n_random,
        seed + 1,
    )
    return SelectionResult(ranking, even, curves, n_events, seed)
