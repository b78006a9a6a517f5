"""A learned light model: each PMT's expected charge as a function of the event's conditions,
for a detector that brings no simulator.

It stands in for the simulator's analytic expectation in two places: the denoiser's per-PMT
prior (`model.prior=learned`, the same channels `prior=expectation` gives) and the
verification's pulls, chi2 per PMT and event likelihood. Fitted on the training split only,
by Poisson regression (the charge's mean, not its shape, is what is modelled):

    mu_ij = exp(f(x_ij) + b_j) + exp(d_j)

x_ij = (the event's standardised conditions, PMT j's learned embedding and, when a geometry
is given, log distance, cos angle, log solid angle and log energy of PMT j from the vertex);
f is a small tanh network with a linear skip (the simulator's log mu is linear in log E,
log solid angle and distance, so a geometry-fed model starts close), b_j a per-PMT scale and
d_j its dark rate. Without a geometry the embeddings carry each PMT's identity.

The shapes depend only on (n_pmt, n_conditions), so the denoiser's prior layer can hold the
fitted arrays as constants. Fitted once per hash of the training events (and geometry and
settings) and cached as arrays (.npz) plus JSON: no pickle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from diffexp.data import EventSet
from diffexp.data.config import to_plain
from diffexp.data.detector import describe_detector
from diffexp.data.user_geometry import UserGeometry

log = logging.getLogger("diffexp.light_model")

HIDDEN_UNITS = 32  # width of the two tanh layers
EMBEDDING_DIM = 8  # per-PMT identity, needed when there is no geometry
N_GEOMETRY_FEATURES = 4  # log d, cos theta, log solid angle / 5, log E
WEIGHT_NAMES: tuple[str, ...] = (
    "embedding", "w1", "b1", "w2", "b2", "w3", "w_skip", "pmt_bias", "log_dark",
)  # fmt: skip
_FORMAT_VERSION = 1


def weight_shapes(n_pmt: int, n_conditions: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the fitted arrays: they depend on the PMT and condition counts only."""
    n_in = n_conditions + EMBEDDING_DIM + N_GEOMETRY_FEATURES
    return {
        "embedding": (n_pmt, EMBEDDING_DIM),
        "w1": (n_in, HIDDEN_UNITS),
        "b1": (HIDDEN_UNITS,),
        "w2": (HIDDEN_UNITS, HIDDEN_UNITS),
        "b2": (HIDDEN_UNITS,),
        "w3": (HIDDEN_UNITS, 1),
        "w_skip": (n_in, 1),
        "pmt_bias": (n_pmt,),
        "log_dark": (n_pmt,),
    }


def pmt_geometry(vertex, positions, normals, areas):
    """Distance [B, P] (m, at least the PMT's radius), cos of the angle to the PMT's axis
    (clipped to [0, 1]) and the solid-angle fraction area cos / (4 pi d^2) of each PMT."""
    offset = vertex[:, None, :] - positions[None, :, :]
    min_distance = ops.sqrt(areas / np.pi)
    distance = ops.maximum(ops.sqrt(ops.sum(ops.square(offset), axis=-1)), min_distance)
    cos_theta = ops.clip(ops.sum(offset * normals, axis=-1) / distance, 0.0, 1.0)
    solid_angle = areas * cos_theta / (4.0 * np.pi * ops.square(distance))
    return distance, cos_theta, solid_angle


def geometry_features(distance, cos_theta, solid_angle, energy):
    """The four per-PMT geometry channels [B, P, 4], each roughly of unit scale."""
    log_energy = ops.broadcast_to(ops.log(ops.maximum(energy, 1e-3)), ops.shape(distance))
    return ops.stack(
        [ops.log(distance), cos_theta, ops.log(solid_angle + 1e-6) / 5.0, log_energy], axis=-1
    )


def light_mu(weights: Mapping[str, Any], encoded_conditions, geometry_channels):
    """Expected charge [B, P] from standardised conditions [B, k] and the geometry channels
    [B, P, 4] (zeros without a geometry): the formula in the module docstring."""
    embedding = weights["embedding"]
    batch, n_pmt = ops.shape(geometry_channels)[0], ops.shape(embedding)[0]
    conditions = ops.broadcast_to(
        encoded_conditions[:, None, :], (batch, n_pmt, ops.shape(encoded_conditions)[-1])
    )
    identity = ops.broadcast_to(embedding[None], (batch, n_pmt, EMBEDDING_DIM))
    x = ops.concatenate([conditions, identity, geometry_channels], axis=-1)
    h = ops.tanh(ops.matmul(x, weights["w1"]) + weights["b1"])
    h = ops.tanh(ops.matmul(h, weights["w2"]) + weights["b2"])
    log_signal = ops.squeeze(ops.matmul(h, weights["w3"]) + ops.matmul(x, weights["w_skip"]), -1)
    log_signal = ops.clip(log_signal + weights["pmt_bias"], -30.0, 30.0)
    return ops.exp(log_signal) + ops.exp(weights["log_dark"])


@dataclass(frozen=True, eq=False)
class LightModel:
    """A fitted light model: its arrays, the conditions' standardisation and, when given, the
    geometry and which conditions are the vertex and the energy."""

    weights: dict[str, np.ndarray] = field(repr=False)
    condition_mean: np.ndarray
    condition_std: np.ndarray
    condition_names: tuple[str, ...]
    geometry: UserGeometry | None = field(default=None, repr=False)
    vertex_columns: tuple[int, ...] | None = None
    energy_column: int | None = None
    variance_factor: float = 1.0  # charge variance / mu, fitted: (1 + spe resolution^2)
    threshold_pe: float = 0.0  # smallest charge seen in the training events

    @property
    def n_pmt(self) -> int:
        return int(self.weights["pmt_bias"].shape[0])

    @property
    def uses_geometry(self) -> bool:
        return self.geometry is not None and self.vertex_columns is not None

    def geometry_channels(self, physical_conditions) -> Any:
        """[B, P, 4] geometry channels (zeros without a geometry)."""
        physical = ops.cast(physical_conditions, "float32")
        batch = ops.shape(physical)[0]
        if not self.uses_geometry:
            return ops.zeros((batch, self.n_pmt, N_GEOMETRY_FEATURES))
        vertex = ops.take(physical, list(self.vertex_columns), axis=1)
        energy = (
            ops.ones((batch, 1))
            if self.energy_column is None
            else physical[:, self.energy_column : self.energy_column + 1]
        )
        geo = self.geometry
        distance, cos_theta, solid_angle = pmt_geometry(
            vertex,
            ops.convert_to_tensor(geo.positions, "float32"),
            ops.convert_to_tensor(geo.normals, "float32"),
            ops.convert_to_tensor(geo.areas, "float32"),
        )
        return geometry_features(distance, cos_theta, solid_angle, energy)

    def expected_pe(self, conditions: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Mean charge [N, n_pmt] (float64) of physical conditions [N, k]."""
        conditions = np.asarray(conditions, np.float64)
        out = np.empty((len(conditions), self.n_pmt))
        weights = {k: ops.convert_to_tensor(v, "float32") for k, v in self.weights.items()}
        for start in range(0, len(conditions), batch_size):
            block = conditions[start : start + batch_size]
            encoded = (block - self.condition_mean) / self.condition_std
            mu = light_mu(weights, ops.cast(encoded, "float32"), self.geometry_channels(block))
            out[start : start + len(block)] = ops.convert_to_numpy(mu)
        return out

    def hit_probability(self, conditions: np.ndarray) -> np.ndarray:
        """P(charge > 0) [N, n_pmt] under Poisson photoelectrons: 1 - exp(-mu)."""
        return 1.0 - np.exp(-self.expected_pe(conditions))

    def meta(self) -> dict[str, Any]:
        return {
            "format_version": _FORMAT_VERSION,
            "condition_names": list(self.condition_names),
            "vertex_columns": None if self.vertex_columns is None else list(self.vertex_columns),
            "energy_column": self.energy_column,
            "variance_factor": self.variance_factor,
            "threshold_pe": self.threshold_pe,
            "hidden_units": HIDDEN_UNITS,
            "embedding_dim": EMBEDDING_DIM,
        }


# --- fitting --------------------------------------------------------------------------------


class _LightModelFit(keras.Model):
    """Trainable copy of `light_mu` (Poisson loss on the charges)."""

    def __init__(self, n_pmt: int, n_conditions: int, with_geometry: bool) -> None:
        super().__init__(name="light_model_fit")
        shapes = weight_shapes(n_pmt, n_conditions)
        init = {
            "embedding": keras.initializers.RandomNormal(stddev=0.3),
            "w1": "glorot_uniform",
            "w2": "glorot_uniform",
            "w3": "zeros",
            "w_skip": "zeros",
        }
        self.fit_weights = {
            name: self.add_weight(shape, initializer=init.get(name, "zeros"), name=name)
            for name, shape in shapes.items()
        }
        self.with_geometry = with_geometry

    def call(self, inputs):
        encoded, channels = inputs
        return light_mu(self.fit_weights, encoded, channels)


def _poisson_loss(y_true, mu):
    return ops.mean(mu - y_true * ops.log(mu))


def _variance_factor(charges: np.ndarray, mu: np.ndarray) -> float:
    """Charge variance over Poisson variance, from the PMTs' residuals (median over PMTs)."""
    ratio = np.mean((charges - mu) ** 2, axis=0) / np.maximum(np.mean(mu, axis=0), 1e-6)
    bright = np.mean(mu, axis=0) > 1.0
    return float(np.median(ratio[bright] if bright.any() else ratio))


def fit_light_model(
    training: EventSet,
    geometry: UserGeometry | None,
    vertex_columns: list[int] | None,
    energy_column: int | None,
    epochs: int = 30,
    batch_size: int = 128,
    learning_rate: float = 0.01,
    seed: int = 0,
) -> LightModel:
    """Fit on `training` (the training split only); seconds to a minute on a CPU."""
    keras.utils.set_random_seed(seed)
    conditions = training.conditions.astype(np.float64)
    mean, std = conditions.mean(axis=0), np.maximum(conditions.std(axis=0), 1e-3)
    charges = training.charges.astype(np.float32)
    with_geometry = geometry is not None and vertex_columns is not None
    draft = LightModel(
        weights={k: np.zeros(s) for k, s in weight_shapes(training.n_pmt, 1).items()},
        condition_mean=mean,
        condition_std=std,
        condition_names=training.condition_names,
        geometry=geometry if with_geometry else None,
        vertex_columns=tuple(vertex_columns) if with_geometry else None,
        energy_column=energy_column if with_geometry else None,
    )
    channels = ops.convert_to_numpy(draft.geometry_channels(conditions))
    encoded = ((conditions - mean) / std).astype(np.float32)
    model = _LightModelFit(training.n_pmt, training.n_conditions, with_geometry)
    # Start at each PMT's mean charge: the network then fits only the shape.
    model.fit_weights["pmt_bias"].assign(np.log(np.maximum(charges.mean(axis=0), 1e-3)))
    model.fit_weights["log_dark"].assign(np.full(training.n_pmt, -6.0, np.float32))
    steps = epochs * int(np.ceil(len(charges) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=_poisson_loss, jit_compile=False)
    model.fit(
        (encoded, channels), charges, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True
    )
    weights = {k: ops.convert_to_numpy(v).astype(np.float32) for k, v in model.fit_weights.items()}
    fitted = replace(draft, weights=weights)
    mu = fitted.expected_pe(conditions)
    positive = charges[charges > 0]
    return replace(
        fitted,
        variance_factor=_variance_factor(charges.astype(np.float64), mu),
        threshold_pe=float(positive.min()) if positive.size else 0.0,
    )


# --- cache ----------------------------------------------------------------------------------


def light_model_key(
    training: EventSet,
    geometry: UserGeometry | None,
    vertex_columns: list[int] | None,
    energy_column: int | None,
    settings: Mapping[str, Any],
) -> str:
    """Hash of the training events, the geometry, the roles of the conditions and the fit
    settings: the same data fit the same model, so it is fitted once."""
    digest = hashlib.sha256()
    for array in (training.charges, training.conditions):
        digest.update(np.ascontiguousarray(array).tobytes())
    if geometry is not None:
        for array in (geometry.positions, geometry.normals, geometry.areas):
            digest.update(np.ascontiguousarray(array, np.float64).tobytes())
    meta = {
        "names": list(training.condition_names),
        "vertex": vertex_columns,
        "energy": energy_column,
        "settings": dict(settings),
        "version": _FORMAT_VERSION,
        "shape": [HIDDEN_UNITS, EMBEDDING_DIM],
    }
    digest.update(json.dumps(meta, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def save_light_model(model: LightModel, npz_path: Path) -> None:
    """Arrays to `npz_path`, the rest to the .json beside it (JSON first, arrays last and
    atomically: a reader that finds the arrays finds the JSON too)."""
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    meta = model.meta()
    npz_path.with_suffix(".json").write_text(json.dumps(meta, sort_keys=True))
    arrays = {f"weight_{k}": v for k, v in model.weights.items()}
    arrays |= {"condition_mean": model.condition_mean, "condition_std": model.condition_std}
    fd, tmp = tempfile.mkstemp(dir=npz_path.parent, prefix=npz_path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, npz_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_light_model(
    npz_path: Path, geometry: UserGeometry | None, n_pmt: int, n_conditions: int
) -> LightModel | None:
    """The cached model, or None when missing, unreadable or not of the expected shapes."""
    try:
        meta = json.loads(npz_path.with_suffix(".json").read_text())
        with np.load(npz_path, allow_pickle=False) as archive:
            weights = {k: archive[f"weight_{k}"] for k in WEIGHT_NAMES}
            mean, std = archive["condition_mean"], archive["condition_std"]
    except (OSError, ValueError, KeyError):
        return None
    shapes = weight_shapes(n_pmt, n_conditions)
    if meta.get("format_version") != _FORMAT_VERSION or any(
        weights[k].shape != shapes[k] for k in WEIGHT_NAMES
    ):
        return None
    vertex = meta.get("vertex_columns")
    return LightModel(
        weights=weights,
        condition_mean=mean,
        condition_std=std,
        condition_names=tuple(meta["condition_names"]),
        geometry=geometry if vertex is not None else None,
        vertex_columns=None if vertex is None else tuple(int(v) for v in vertex),
        energy_column=meta.get("energy_column"),
        variance_factor=float(meta["variance_factor"]),
        threshold_pe=float(meta["threshold_pe"]),
    )


def cached_light_model(
    training: EventSet,
    geometry: UserGeometry | None,
    vertex_columns: list[int] | None,
    energy_column: int | None,
    cache_dir: str | Path | None,
    settings: Mapping[str, Any] | None = None,
) -> LightModel:
    """The light model of these training events: from `cache_dir` when fitted before."""
    settings = dict(settings or {})
    if cache_dir is None:
        return fit_light_model(training, geometry, vertex_columns, energy_column, **settings)
    key = light_model_key(training, geometry, vertex_columns, energy_column, settings)
    path = Path(cache_dir) / f"light_model_{key}.npz"
    model = load_light_model(path, geometry, training.n_pmt, training.n_conditions)
    if model is None:
        log.info("fitting the light model on %d training events", training.n_events)
        model = fit_light_model(training, geometry, vertex_columns, energy_column, **settings)
        save_light_model(model, path)
    return model


def light_model_for(data_cfg: Any, training: EventSet, cache_dir: str | Path | None) -> LightModel:
    """The light model of a run's data config, fitted on its training events (the PMTs of
    its selection), with the geometry when the data give one; cached in `cache_dir`."""
    cfg = to_plain(data_cfg)
    detector = describe_detector(cfg, training.condition_names)
    geometry = detector.geometry.select(training.pmt_ids) if detector.has_geometry else None
    return cached_light_model(
        training,
        geometry,
        detector.vertex_columns if geometry is not None else None,
        detector.energy_column if geometry is not None else None,
        cache_dir,
        cfg.get("light_model"),
    )
