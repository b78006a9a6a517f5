"""Fixtures of the data tests: the real conf/data files, shrunk to a few hundred events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

CONF_DATA = Path(__file__).resolve().parents[2] / "conf" / "data"


def load_data_conf(name: str, **overrides: object) -> DictConfig:
    """conf/data/<name>.yaml with the root interpolations (seed, profile) replaced and the
    shared keys of a user's own events (conf/own_detector/default.yaml) merged in."""
    cfg = OmegaConf.load(CONF_DATA / f"{name}.yaml")
    if "defaults" in cfg:
        shared = OmegaConf.load(CONF_DATA.parent / "own_detector" / "default.yaml")
        del cfg["defaults"]
        cfg = OmegaConf.merge(shared, cfg)
    cfg.seed = 7
    if "n_events" in cfg:
        cfg.n_events = 300
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


@pytest.fixture
def data_conf():
    """Factory: data_conf("simulated", **{"physics.dark_noise_pe": 0.5}) -> DictConfig."""
    return load_data_conf


@pytest.fixture
def sim_cfg() -> DictConfig:
    return load_data_conf("simulated")


@pytest.fixture
def write_npz(tmp_path: Path):
    """Write arrays to an .npz in tmp_path and return an npz data config pointing at it."""

    def _write(**arrays: np.ndarray) -> DictConfig:
        path = tmp_path / "events.npz"
        np.savez(path, **arrays)
        return load_data_conf("npz", path=str(path))

    return _write
