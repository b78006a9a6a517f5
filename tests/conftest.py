"""Shared fixtures: the real config composed with Hydra's compose API, shrunk to smoke size
and pointed at a temporary folder, so tests exercise the same config users run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _share_cores_between_xdist_workers() -> None:
    """Under `make test` (-n 2) each xdist worker, and every process it starts, gets its share
    of the cores for OpenMP and BLAS: their threads spin while they wait, so two workers each
    running a two-thread scikit-learn fit on two cores measured 10-20x slower than one thread
    each. Set before numpy or scikit-learn load their thread pools; a value the user set wins.
    TensorFlow's own pool is not OpenMP and is left alone."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1:
        return
    share = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, share)


_share_cores_between_xdist_workers()

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

# A throwaway PostgreSQL server for any test that asks for it (skips without the package).
from tests.postgres_server import postgres_server, postgres_url  # noqa: E402, F401

# Tests that share a fixture wider than one test run on one xdist worker (`make test`).
pytest_plugins = ["tests.xdist_groups"]

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"


def compose_config(tmp_path: Path, overrides: list[str] = (), profile: str = "smoke") -> DictConfig:
    """conf/config.yaml with `overrides`, the smoke profile and outputs under tmp_path."""
    with initialize_config_dir(str(CONF_DIR)):
        cfg = compose(
            config_name="config",
            overrides=[
                f"profile={profile}",
                f"paths.output_dir={tmp_path / 'outputs'}",
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.cache_dir = str(REPO / "outputs" / "data_cache")  # shared simulated events
    return cfg


# Variables that code under test sets in this process on purpose (a password moved off the
# command line); each test starts and ends with the values the session had.
_PROCESS_SECRETS = ("DIFFEXP_STORAGE_PASSWORD", "PGPASSWORD")


@pytest.fixture(autouse=True)
def _no_secret_leaks_between_tests():
    before = {name: os.environ.get(name) for name in _PROCESS_SECRETS}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def make_config(tmp_path):
    """Factory: make_config(["optimizer.lr=1e-4"]) -> composed smoke config."""
    return lambda overrides=(), profile="smoke": compose_config(tmp_path, list(overrides), profile)


def subprocess_env() -> dict[str, str]:
    """Environment of a test subprocess: the repo importable, quiet TensorFlow, and no thread
    share left over from a sweep in this process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.pop("DIFFEXP_THREADS", None)
    return env


def run_module(
    module: str, *args: str, cwd: Path = REPO, timeout: int = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m module args` as a user would, capturing output."""
    full_env = {**subprocess_env(), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
