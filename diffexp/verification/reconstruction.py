"""A fixed reconstruction of vertex and energy, trained once on simulated events.

The closure test applies the same reconstruction to generated and to simulated events:
if the model is right, bias and resolution agree. The reconstruction need not be good,
only fixed, so it is a ridge regression on log charges and high-level features (seconds to
fit, deterministic), cached under the cache directory keyed by everything that shapes it:
its arrays in a `.npz` read with allow_pickle=False and its description in JSON, so a file
someone else placed in the cache is data at worst, never code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from diffexp.data import DetectorSimulator, EventSet
from diffexp.file_checks import json_schema_problem
from diffexp.io_utils import atomic_write_json, atomic_write_npz, read_json
from diffexp.verification.features import energy_column, high_level_features

# Bump when the reconstruction's inputs or model change, so stale caches are not reused.
_RECONSTRUCTION_VERSION = 1
_DESCRIPTION_SCHEMA = {  # the cache's JSON, as save_reconstruction writes it
    "version": int,
    "alpha": (int, float),
    "energy_index": (int, type(None)),
    "n_samples_seen": int,
}


def _inputs(events: EventSet, pmt_positions: np.ndarray | None) -> np.ndarray:
    """Regressor inputs: log charges, log total charge, position features (not energy)."""
    features, names = high_level_features(events, pmt_positions)
    keep = [i for i, name in enumerate(names) if name != "total_charge_per_energy"]
    log_total = np.log(np.maximum(events.charges.sum(axis=1, dtype=np.float64), 1.0))
    return np.concatenate(
        [np.log1p(events.charges.astype(np.float64)), log_total[:, None], features[:, keep]],
        axis=1,
    )


@dataclass
class Reconstruction:
    """Predicts the conditions (vertex in m, energy in MeV) from charges.

    Energy is regressed as log E (the light is proportional to E, so log E is linear in
    log charge) and returned in MeV.
    """

    pipeline: Pipeline
    pmt_ids: np.ndarray
    energy_index: int | None

    def predict(self, events: EventSet, pmt_positions: np.ndarray | None) -> np.ndarray:
        """Reconstructed conditions [N, k] for `events` (same PMTs as at training)."""
        if not np.array_equal(events.pmt_ids, self.pmt_ids):
            raise ValueError("reconstruction was trained on other PMTs than these events hold")
        predicted = self.pipeline.predict(_inputs(events, pmt_positions))
        if self.energy_index is not None:
            predicted[:, self.energy_index] = np.exp(predicted[:, self.energy_index])
        return predicted


def fit_reconstruction(
    training_events: EventSet, pmt_positions: np.ndarray | None, alpha: float = 1.0
) -> Reconstruction:
    """Fit the ridge reconstruction on `training_events` (simulated, independent of the test)."""
    targets = training_events.conditions.astype(np.float64).copy()
    energy_index = energy_column(training_events)
    if energy_index is not None:
        targets[:, energy_index] = np.log(np.maximum(targets[:, energy_index], 1e-9))
    pipeline = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
    pipeline.fit(_inputs(training_events, pmt_positions), targets)
    return Reconstruction(pipeline, training_events.pmt_ids.copy(), energy_index)


def reconstruction_key(
    data_cfg: Mapping[str, Any], pmt_ids: np.ndarray, settings: Mapping[str, Any]
) -> str:
    """Hash of what shapes the reconstruction: detector, physics, PMT subset, fit settings."""
    shaping = {
        key: data_cfg.get(key)
        for key in ("geometry", "physics", "energy_min_mev", "energy_max_mev", "fiducial_margin_m")
    }
    payload = {
        "version": _RECONSTRUCTION_VERSION,
        "data": shaping,
        "pmt_ids": [int(i) for i in pmt_ids],
        "settings": dict(settings),
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_or_fit_reconstruction(
    simulator: DetectorSimulator,
    pmt_ids: np.ndarray,
    condition_names: tuple[str, ...],
    cache_file: Path | None,
    n_train_events: int,
    seed: int,
    alpha: float = 1.0,
) -> Reconstruction:
    """The cached reconstruction for this detector, fitting (and caching) it on first use."""
    if cache_file is not None:
        cached = load_reconstruction(cache_file)
        if cached is not None and np.array_equal(cached.pmt_ids, pmt_ids):
            return cached
    rng = np.random.default_rng(seed)
    conditions = simulator.sample_conditions(n_train_events, rng)
    charges = simulator.simulate(conditions, rng)[:, pmt_ids]
    training = EventSet(charges, conditions.astype(np.float32), condition_names, pmt_ids)
    reconstruction = fit_reconstruction(training, simulator.geometry.positions[pmt_ids], alpha)
    if cache_file is not None:
        save_reconstruction(reconstruction, cache_file)
    return reconstruction


def _cache_paths(cache_file: Path) -> tuple[Path, Path]:
    """(arrays .npz, description .json) of the cache named `cache_file` (any suffix)."""
    return Path(cache_file).with_suffix(".npz"), Path(cache_file).with_suffix(".json")


def save_reconstruction(reconstruction: Reconstruction, cache_file: Path) -> None:
    """The fitted scaler and ridge as plain arrays, the rest as JSON; each file written to a
    temporary name of its own and renamed (the JSON last: it marks the cache complete), so
    verifications sharing the cache folder can write it at the same time."""
    arrays_path, description_path = _cache_paths(cache_file)
    scaler, ridge = reconstruction.pipeline[0], reconstruction.pipeline[-1]
    atomic_write_npz(
        arrays_path,
        mean=scaler.mean_,
        scale=scaler.scale_,
        var=scaler.var_,
        coef=ridge.coef_,
        intercept=ridge.intercept_,
        pmt_ids=reconstruction.pmt_ids,
    )
    atomic_write_json(
        description_path,
        {
            "version": _RECONSTRUCTION_VERSION,
            "model": "StandardScaler + Ridge",
            "alpha": ridge.alpha,
            "energy_index": reconstruction.energy_index,
            "n_samples_seen": int(scaler.n_samples_seen_),
        },
    )


def load_reconstruction(cache_file: Path) -> Reconstruction | None:
    """The cached reconstruction, or None when the cache is missing, of another version or
    unreadable (it is then fitted again and rewritten). Never unpickles."""
    arrays_path, description_path = _cache_paths(cache_file)
    try:
        description = read_json(description_path)
        if json_schema_problem(description, _DESCRIPTION_SCHEMA) is not None:
            return None  # `null`, a list, a missing or mistyped field: fitted again
        if description.get("version") != _RECONSTRUCTION_VERSION:
            return None
        with np.load(arrays_path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        scaler = StandardScaler()
        scaler.mean_, scaler.scale_, scaler.var_ = arrays["mean"], arrays["scale"], arrays["var"]
        scaler.n_features_in_ = int(arrays["mean"].shape[0])
        scaler.n_samples_seen_ = int(description["n_samples_seen"])
        ridge = Ridge(alpha=float(description["alpha"]))
        ridge.coef_, ridge.intercept_ = arrays["coef"], arrays["intercept"]
        ridge.n_features_in_ = scaler.n_features_in_
        if ridge.coef_.shape[-1] != scaler.n_features_in_:
            return None
        energy_index = description["energy_index"]
        return Reconstruction(
            make_pipeline(scaler, ridge),
            arrays["pmt_ids"],
            None if energy_index is None else int(energy_index),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
