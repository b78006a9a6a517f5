"""A real two-node SLURM cluster on this machine for the tests in this folder, started by
.ci/slurm/start.sh (two slurmd, node1 and node2, one partition)."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import NoReturn

import pytest

from tests.ci_gate import unavailable
from tests.conftest import REPO

N_NODES = 2  # .ci/slurm/start.sh's layout; the two-node sweep test relies on it
_UP = ("idle", "mixed", "alloc", "completing")


def _nodes_up() -> tuple[str, ...] | None:
    """The cluster's node names when every node answers, else None."""
    if shutil.which("sinfo") is None:
        return None
    listing = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True)
    if listing.returncode != 0:
        return None
    rows = [line.split() for line in listing.stdout.splitlines() if line.strip()]
    names = tuple(sorted({name for name, _ in rows}))
    if len(names) < N_NODES or not all(state.startswith(_UP) for _, state in rows):
        return None
    return names


def slurm_unavailable(reason: str) -> NoReturn:
    """Skip, saying why; on CI (CI=true) fail instead: CI must run the SLURM tests."""
    unavailable("SLURM", reason)


@pytest.fixture(scope="session")
def slurm_cluster() -> tuple[str, ...]:
    """Start (or reuse) the cluster and give its node names; skip, saying why, where that is
    impossible (fail on CI). A running single-node cluster is restarted with two nodes."""
    nodes = _nodes_up()
    if nodes:
        return nodes
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
    nodes = _nodes_up()
    if started.returncode != 0 or not nodes:
        slurm_unavailable(
            f"could not start SLURM: {(started.stderr or started.stdout).strip()[-300:]}"
        )
    return nodes
