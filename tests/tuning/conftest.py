"""Fixtures for the sweeper tests: a SQLite study in tmp_path and a runner for the tiny app."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from sweep_helpers import tiny_sweep_command

from diffexp.names import PRUNER_ATTR
from diffexp.tuning.storage import create_storage
from tests.conftest import subprocess_env


@pytest.fixture
def run_tiny_sweep(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run the tiny app as a multirun in tmp_path; returns the finished process."""

    def run(
        storage: str, *overrides: str, timeout: float = 240, launcher: str = "submitit_local"
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            tiny_sweep_command(storage, *overrides, launcher=launcher),
            cwd=tmp_path,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
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
