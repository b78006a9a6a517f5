"""Fixtures for the sweeper tests: a SQLite study in tmp_path and a runner for the tiny app."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from diffexp.tuning.pruners import PRUNER_ATTR
from diffexp.tuning.storage import create_storage

REPO = Path(__file__).resolve().parents[2]
TINY_APP = Path(__file__).resolve().parent / "tiny_app" / "app.py"


def sweep_env() -> dict[str, str]:
    """Environment of a sweep subprocess: repo importable, quiet TensorFlow."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.pop("DIFFEXP_THREADS", None)
    return env


def tiny_sweep_command(storage: str, *overrides: str) -> list[str]:
    """`app.py -m` with diffexp's sweeper config, submitit_local, and a tmp storage."""
    return [
        sys.executable, str(TINY_APP), "-m",
        f"hydra.searchpath=[file://{REPO / 'conf'}]",
        "hydra/launcher=submitit_local",
        f"paths.study_storage={storage}",
        *overrides,
    ]


@pytest.fixture
def run_tiny_sweep(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run the tiny app as a multirun in tmp_path; returns the finished process."""

    def run(storage: str, *overrides: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run(
            tiny_sweep_command(storage, *overrides), cwd=tmp_path, env=sweep_env(),
            capture_output=True, text=True, timeout=timeout,
        )

    return run


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


@pytest.fixture
def make_study(sqlite_url: str) -> Callable[..., optuna.Study]:
    """A study in the tmp SQLite storage with a pruner config stored as the sweeper does."""

    def make(name: str = "unit", pruner: dict | None = None) -> optuna.Study:
        study = optuna.create_study(study_name=name, storage=create_storage(sqlite_url))
        study.set_user_attr(PRUNER_ATTR, pruner or {"_target_": "optuna.pruners.NopPruner"})
        return study

    return make
