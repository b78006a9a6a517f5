"""High-level event features a physicist reads off a PMT event: how much light, how many
hits, where the light is, how spread out, and how concentrated.

They feed the Fréchet distance, the classifier test and the fixed reconstruction, so they
are computed one way, here.
"""

from __future__ import annotations

import numpy as np

from diffexp.data import EventSet

# Guards divisions by an event's total charge; far below one photoelectron.
_MIN_TOTAL_CHARGE_PE = 1e-6


def energy_index(condition_names: tuple[str, ...]) -> int | None:
    """Index of the energy condition (a name starting with "energy"), or None."""
    for index, name in enumerate(condition_names):
        if name.lower().startswith("energy"):
            return index
    return None


def energy_column(events: EventSet) -> int | None:
    """Index of `events`' energy condition, or None."""
    return energy_index(events.condition_names)


def high_level_features(
    events: EventSet, pmt_positions: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Features [N, F] (float64) and their names.

    `pmt_positions` are the positions [n_pmt, 3] (m) of the charge columns; without them
    (a user's own data) the position features are left out. With an energy condition the
    total charge is divided by the energy (the calorimetric response), otherwise it is the
    total charge itself.
    """
    charges = events.charges.astype(np.float64)
    total = charges.sum(axis=1)
    safe_total = np.maximum(total, _MIN_TOTAL_CHARGE_PE)
    columns: list[np.ndarray] = []
    names: list[str] = []

    energy_index = energy_column(events)
    if energy_index is None:
        columns.append(total)
        names.append("total_charge_pe")
    else:
        energy = np.maximum(events.conditions[:, energy_index].astype(np.float64), 1e-9)
        columns.append(total / energy)
        names.append("total_charge_per_energy")
    columns.append((charges > 0).sum(axis=1).astype(np.float64))
    names.append("n_hits")
    columns.append(charges.max(axis=1) / safe_total)
    names.append("largest_pmt_fraction")

    if pmt_positions is not None:
        positions = np.asarray(pmt_positions, dtype=np.float64)
        weights = charges / safe_total[:, None]
        centroid = weights @ positions
        second = weights @ positions**2 - centroid**2
        for axis, label in enumerate("xyz"):
            columns.append(centroid[:, axis])
            names.append(f"centroid_{label}_m")
        for axis, label in enumerate("xyz"):
            columns.append(np.sqrt(np.maximum(second[:, axis], 0.0)))
            names.append(f"spread_{label}_m")
        top = charges[:, positions[:, 2] > 0].sum(axis=1)
        bottom = charges[:, positions[:, 2] < 0].sum(axis=1)
        columns.append((top - bottom) / safe_total)
        names.append("top_bottom_asymmetry")
    return np.stack(columns, axis=1), tuple(names)


# Photoelectron discreteness: the charge windows (PE) of the 1- and 2-PE peaks and of the
# valleys beside them, and the range in which the distance to the nearest integer is taken
# (above ~3.5 PE the single-PE smearing, 0.3 sqrt(n), washes the peaks out).
PE_WINDOWS: dict[str, tuple[float, float]] = {
    "hits_1pe_peak": (0.8, 1.2),
    "hits_1_2pe_valley": (1.3, 1.7),
    "hits_2pe_peak": (1.8, 2.2),
    "hits_2_3pe_valley": (2.3, 2.7),
}
DISCRETE_RANGE_PE = (0.5, 3.5)


def discreteness_features(events: EventSet) -> dict[str, np.ndarray]:
    """Per event [N]: hits in each PE_WINDOWS window and the mean distance of charges in
    DISCRETE_RANGE_PE to the nearest integer PE (0.25 for a smooth spectrum, less when the
    charges sit on photoelectron peaks; 0.25 for an event without such charges)."""
    charges = events.charges.astype(np.float64)
    features = {
        name: ((charges >= low) & (charges <= high)).sum(axis=1).astype(np.float64)
        for name, (low, high) in PE_WINDOWS.items()
    }
    low, high = DISCRETE_RANGE_PE
    inside = (charges > low) & (charges < high)
    distance = np.where(inside, np.abs(charges - np.round(charges)), 0.0).sum(axis=1)
    counted = inside.sum(axis=1)
    features["distance_to_integer_pe"] = np.where(
        counted > 0, distance / np.maximum(counted, 1), 0.25
    )
    return features
