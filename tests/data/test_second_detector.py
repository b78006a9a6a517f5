"""A second detector, end to end with no code change: a sphere of 300 PMTs with other
condition names (vertex vx/vy/vz, energy edep_mev and a nuisance time_ns), its events
written to HDF5 under nested dataset names and its geometry to JSON; phase 1 -> phase 2 ->
verify at smoke scale, as a user types them."""

from __future__ import annotations

import json

import h5py
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import run_module, subprocess_env

pytestmark = pytest.mark.slow

NAMES = ["time_ns", "vx", "vy", "vz", "edep_mev"]


def sphere_detector(n_pmt: int = 300, radius: float = 3.0):
    """PMTs on a Fibonacci lattice of the sphere, facing its centre."""
    k = np.arange(n_pmt) + 0.5
    polar, azimuth = np.arccos(1 - 2 * k / n_pmt), np.pi * (1 + 5**0.5) * k
    unit = np.stack(
        [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], 1
    )
    return radius * unit, -unit, np.full(n_pmt, 0.05)


def write_events(folder, n_events: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    positions, directions, areas = sphere_detector()
    vertex = rng.normal(size=(n_events, 3))
    vertex *= (2.0 * rng.random(n_events) ** (1 / 3) / np.linalg.norm(vertex, axis=1))[:, None]
    energy, time_ns = rng.uniform(2.0, 8.0, n_events), rng.uniform(0, 100, n_events)
    offset = vertex[:, None, :] - positions[None]
    distance = np.linalg.norm(offset, axis=-1)
    cos_theta = np.clip(np.sum(offset * directions, -1) / distance, 0, 1)
    mu = 8000 * energy[:, None] * areas * cos_theta / (4 * np.pi * distance**2)
    mu = mu * np.exp(-distance / 8.0) + 0.02
    n_pe = rng.poisson(mu)
    charges = n_pe + 0.3 * np.sqrt(n_pe) * rng.standard_normal(n_pe.shape)
    charges[charges < 0.25] = 0.0
    conditions = np.stack([time_ns, *vertex.T, energy], axis=1)
    with h5py.File(folder / "sphere.h5", "w") as handle:
        handle["hits/pe"] = charges.astype(np.float32)
        handle["truth/params"] = conditions.astype(np.float32)
        handle["truth/params"].attrs["names"] = NAMES
    geometry = {
        "pmt_positions": positions.tolist(),
        "pmt_directions": directions.tolist(),
        "pmt_areas": areas.tolist(),
    }
    (folder / "sphere_pmts.json").write_text(json.dumps(geometry))


def test_sphere_detector_phase1_phase2_verify(tmp_path):
    write_events(tmp_path)
    data = [
        "data=hdf5",
        f"data.path={tmp_path / 'sphere.h5'}",
        "data.charges_key=hits/pe",
        "data.conditions_key=truth/params",
        f"data.geometry_file={tmp_path / 'sphere_pmts.json'}",
        "data.vertex_conditions=[vx,vy,vz]",
        "data.energy_condition=edep_mev",
        "data.val_fraction=0.3",
        "data.light_model.epochs=8",
        "profile=smoke",
    ]
    env = subprocess_env() | {"DIFFEXP_ROOT": str(tmp_path)}
    phase1 = run_module(
        "diffexp.train", "-m", "hydra/sweeper=optuna", "search=phase1", "profile.n_trials=2",
        *data, env=env, timeout=900,
    )  # fmt: skip
    assert phase1.returncode == 0, phase1.stdout[-2000:] + phase1.stderr[-3000:]
    storage = f"sqlite:///{tmp_path / 'outputs' / 'optuna_study.db'}"
    trials = optuna.load_study(study_name="phase1-smoke", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2

    run_dir = tmp_path / "phase2"
    phase2 = run_module(
        "diffexp.train", "best_of=phase1-smoke", "trainer=refine", "experiment_name=phase2",
        f"hydra.run.dir={run_dir}", *data, env=env, timeout=900,
    )  # fmt: skip
    assert phase2.returncode == 0, phase2.stdout[-2000:] + phase2.stderr[-3000:]

    verify = run_module("diffexp.verify", f"run={run_dir}", env=env, timeout=900)
    assert verify.returncode == 0, verify.stdout[-2000:] + verify.stderr[-3000:]
    result = json.loads((run_dir / "verification.json").read_text())
    assert result["data_source"] == "hdf5" and result["expectation"] == "learned light model"
    assert result["sample_sizes"]["reference"] == 300  # smoke verify_events, held out
    assert "floor" in result["headline"] and 0.5 <= result["classifier_auc"] <= 1.0
    assert "simulator" in result["components"]["closure"]["skipped"]
    # One light model for the one training split: phase 1, phase 2 and verify shared it.
    fitted = list((tmp_path / "outputs").rglob("light_model_*.json"))
    assert len(fitted) == 1, fitted
    assert json.loads(fitted[0].read_text())["vertex_columns"] == [1, 2, 3]
