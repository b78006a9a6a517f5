"""A real single-node SLURM cluster for the tests in this folder, started by .ci/slurm/start.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import NoReturn

import pytest

from tests.ci_gate import unavailable
from tests.conftest import REPO


def _cluster_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    state = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
    return state.returncode == 0 and state.stdout.strip().startswith(("idle", "mixed", "alloc"))


def slurm_unavailable(reason: str) -> NoReturn:
    """Skip, saying why; on CI (CI=true) fail instead: CI must run the SLURM tests."""
    unavailable("SLURM", reason)


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """Start (or reuse) the cluster; skip, saying why, where that is impossible (fail on CI)."""
    if _cluster_answers():
        return
    if os.geteuid() != 0:
        slurm_unavailable(
            "SLURM tests need root to start munged/slurmctld/slurmd (bash .ci/slurm/start.sh)"
        )
    started = subprocess.run(
        ["bash", str(REPO / ".ci" / "slurm" / "start.sh")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if started.returncode != 0 or not _cluster_answers():
        slurm_unavailable(
            f"could not start SLURM: {(started.stderr or started.stdout).strip()[-300:]}"
        )
