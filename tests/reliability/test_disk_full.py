"""A full disk: a run whose folder is on a tiny tmpfs stops before training with one line
naming the folder, and every JSON it leaves is whole (atomic writes). Root only (mount)."""

from __future__ import annotations

import json
import subprocess

import pytest

from diffexp import names
from diffexp.training import records
from tests.reliability.support import assert_one_line_error, run_train


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs: room for Hydra's snapshot and the data transform, not for weights."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


@pytest.mark.slow
def test_full_disk_stops_before_training_and_leaves_whole_json(tiny_disk):
    run_dir = tiny_disk / "run"
    process = run_train(f"hydra.run.dir={run_dir}")
    assert_one_line_error(process, f"cannot write {run_dir}", "No space left on device")
    assert process.returncode == 2
    assert records.read_metrics(run_dir) == []  # not one epoch trained
    for path in run_dir.rglob("*.json"):
        json.loads(path.read_text())  # whole, or not there at all
    summary = json.loads((run_dir / names.SUMMARY_FILE).read_text())
    assert summary["stop_reason"] == "failed" and "No space left" in summary["error"]
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name]
