"""Simulated samples for the physics-score tests: one detector (the real conf/data config),
one set of conditions, several independent simulations of them."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from threadpoolctl import threadpool_limits

from diffexp.data import (
    SIMULATED_CONDITION_NAMES,
    EventSet,
    simulate_events,
    simulator_from_config,
    train_val_split,
)
from diffexp.verification.reconstruction import load_or_fit_reconstruction
from diffexp.verification.score import calibrate
from tests.conftest import CONF_DIR

N_EVENTS = 600  # per sample: enough for a stable floor, small enough for ~1 s per metric set


@pytest.fixture(scope="session", autouse=True)
def one_thread_for_sklearn():
    """OpenMP threads spin while waiting; on a shared 2-core machine one thread is faster."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def data_cfg():
    """The default simulated-detector data config, resolved to plain values."""
    from omegaconf import OmegaConf

    with initialize_config_dir(str(CONF_DIR)):
        cfg = compose(config_name="select_pmts")
    return OmegaConf.to_container(cfg.data, resolve=True)


@pytest.fixture(scope="session")
def simulator(data_cfg):
    return simulator_from_config(data_cfg)


class Samples:
    """Independent simulations of the same conditions, seeded by name."""

    def __init__(self, simulator) -> None:
        self.simulator = simulator
        self.conditions = simulator.sample_conditions(N_EVENTS, np.random.default_rng(0))

    def draw(self, seed: int) -> EventSet:
        charges = self.simulator.simulate(self.conditions, np.random.default_rng(seed))
        return EventSet(charges, self.conditions.astype(np.float32), SIMULATED_CONDITION_NAMES)


@pytest.fixture(scope="session")
def samples(simulator) -> Samples:
    return Samples(simulator)


@pytest.fixture(scope="session")
def reconstruction(simulator):
    return load_or_fit_reconstruction(
        simulator, np.arange(simulator.n_pmt), SIMULATED_CONDITION_NAMES, None, 4000, 99
    )


@pytest.fixture(scope="session")
def training(data_cfg):
    """A run-like training set (5000 simulated events, 10% held out)."""
    return train_val_split(simulate_events(data_cfg, 5000, seed=42), 0.1, 42)[0]


@pytest.fixture(scope="session")
def calibration(samples, simulator, reconstruction, training):
    """Reference = draw(1), floor = draw(2); candidates in the tests use other seeds."""
    return calibrate(
        samples.draw(1),
        samples.draw(2),
        simulator.geometry.positions,
        reconstruction,
        simulator=simulator,
        training=training,
    )
