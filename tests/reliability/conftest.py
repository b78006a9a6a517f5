"""Fixtures of the reliability tests: one finished smoke run, copied for each test to damage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability.support import run_train


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """One finished 2-epoch smoke run (checkpoint, best weights, summary); copy before use."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    process = run_train(f"hydra.run.dir={run_dir}")
    assert process.returncode == 0, process.stderr[-3000:]
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    """A private copy of `finished_run` that a test may damage."""
    target = tmp_path / "run"
    shutil.copytree(finished_run, target)
    return target
