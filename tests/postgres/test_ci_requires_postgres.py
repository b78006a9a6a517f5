"""On CI the PostgreSQL tests must run: a failed server install fails `.ci/run` with the
reason, and a server that cannot start fails the test instead of skipping it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO


def _ci_copy(folder):
    """.ci/run in a folder whose SLURM install works, whose PostgreSQL install fails."""
    for part in ("slurm", "postgres"):
        (folder / ".ci" / part).mkdir(parents=True)
    shutil.copy(REPO / ".ci" / "run", folder / ".ci" / "run")
    (folder / ".ci" / "slurm" / "install.sh").write_text("exit 0\n")
    (folder / ".ci" / "postgres" / "install.sh").write_text(
        "echo 'E: Unable to locate package postgresql' >&2\nexit 100\n"
    )
    (folder / "Makefile").write_text(
        "install-synetune:\n\t@echo synetune\ntest:\n\t@echo tests ran\nlint:\n\t@echo lint ran\n"
    )


@pytest.mark.parametrize("ci", ["true", None])
def test_a_failed_postgres_install_fails_ci_only(tmp_path, ci):
    _ci_copy(tmp_path)
    env = {"PATH": "/usr/bin:/bin", **({"CI": ci} if ci else {})}
    process = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True, env=env
    )
    assert "Unable to locate package postgresql" in process.stderr
    if ci:
        assert process.returncode != 0
        assert "PostgreSQL install failed" in process.stderr
        assert "tests ran" not in process.stdout
    else:
        assert process.returncode == 0, process.stderr
        assert "tests ran" in process.stdout
