"""On CI the SLURM test must run: a failed SLURM install fails `.ci/run` with the reason, and a
cluster that cannot start fails the test instead of skipping it. (No cluster needed here.)"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO


@pytest.fixture
def ci_copy(tmp_path):
    """.ci/run in a folder whose SLURM install fails and whose `make test` passes."""
    (tmp_path / ".ci" / "slurm").mkdir(parents=True)
    (tmp_path / ".ci" / "postgres").mkdir(parents=True)
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / ".ci" / "slurm" / "install.sh").write_text(
        "echo 'E: Unable to locate package slurm-wlm' >&2\nexit 100\n"
    )
    (tmp_path / ".ci" / "postgres" / "install.sh").write_text("exit 0\n")
    (tmp_path / "Makefile").write_text(
        "install-synetune:\n\t@echo synetune\ntest:\n\t@echo tests ran\nlint:\n\t@echo lint ran\n"
    )
    return tmp_path


def _run(folder, ci: str | None):
    env = {"PATH": "/usr/bin:/bin"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        ["bash", str(folder / ".ci" / "run")], capture_output=True, text=True, env=env
    )


def test_a_failed_slurm_install_fails_ci_with_the_reason(ci_copy):
    process = _run(ci_copy, "true")
    assert process.returncode != 0
    assert "SLURM install failed" in process.stderr
    assert "Unable to locate package slurm-wlm" in process.stderr
    assert "tests ran" not in process.stdout


def test_outside_ci_a_failed_slurm_install_still_runs_the_tests(ci_copy):
    process = _run(ci_copy, None)
    assert process.returncode == 0, process.stderr
    assert "tests ran" in process.stdout
