"""A real single-node SLURM cluster for the tests in this folder, started by .ci/slurm/start.sh."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO


def _cluster_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    state = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
    return state.returncode == 0 and state.stdout.strip().startswith(("idle", "mixed", "alloc"))


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """Start (or reuse) the cluster; skip, saying why, where that is impossible."""
    if _cluster_answers():
        return
    if os.geteuid() != 0:
        reason = "SLURM tests need root to start munged/slurmctld/slurmd (bash .ci/slurm/start.sh)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    started = subprocess.run(
        ["bash", str(REPO / ".ci" / "slurm" / "start.sh")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if started.returncode != 0 or not _cluster_answers():
        reason = f"could not start SLURM: {(started.stderr or started.stdout).strip()[-300:]}"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
