"""A run that ran no test is a failure: pytest's exit 5 (nothing collected) from `make test`
(its xdist workers included) stops `.ci/run` non-zero, as any failing test does."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import REPO


def test_make_test_that_collects_nothing_exits_non_zero(tmp_path):
    (tmp_path / "empty").mkdir()
    process = subprocess.run(
        [
            "make",
            "-o",
            ".venv/.installed",
            "test",
            f"ARGS={tmp_path / 'empty'} -p no:cacheprovider",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "no tests ran" in process.stdout, process.stdout[-2000:] + process.stderr[-2000:]
    assert process.returncode != 0


def test_ci_stops_when_make_test_exits_5(tmp_path):
    for part in ("slurm", "postgres"):
        (tmp_path / ".ci" / part).mkdir(parents=True)
        (tmp_path / ".ci" / part / "install.sh").write_text("exit 0\n")
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "Makefile").write_text(
        "test:\n\t@echo no tests ran; exit 5\nlint:\n\t@echo lint ran\n"
    )
    process = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "CI": "true"},
    )
    assert process.returncode != 0
    assert "lint ran" not in process.stdout
