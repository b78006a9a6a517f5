"""Helpers of the reliability tests: the real `python -m diffexp.train` in a subprocess, as a
user (or a SLURM requeue) runs it, and the check that a failure is one line without traceback.
Imported as `tests.reliability.support` (a plain module name would clash with other areas).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO, subprocess_env

SHARED_CACHE = REPO / "outputs" / "data_cache"  # simulated smoke events, shared by the tests


def train_command(*overrides: str) -> list[str]:
    """`python -m diffexp.train profile=smoke <overrides>` with the shared data cache."""
    return [
        sys.executable,
        "-m",
        "diffexp.train",
        "profile=smoke",
        f"paths.cache_dir={SHARED_CACHE}",
        *overrides,
    ]


def run_train(*overrides: str, cwd: Path = REPO, timeout: float = 300):
    return subprocess.run(
        train_command(*overrides),
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(process: subprocess.CompletedProcess, *words: str) -> str:
    """Non-zero exit, no traceback, exactly one `diffexp: error:` line naming `words`."""
    output = process.stdout + process.stderr
    assert process.returncode != 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in process.stderr.splitlines() if line.startswith("diffexp: error:")]
    assert len(errors) == 1, process.stderr[-3000:]
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (but Hydra's own .hydra/ and log) by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".hydra" not in p.parts and p.name != "train.log"
    }


def wait_for(predicate: Callable[[], bool], timeout: float, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process ended early with {process.returncode}")
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")
