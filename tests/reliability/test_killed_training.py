"""A training process killed with SIGKILL mid-epoch loses at most that epoch: resuming (by
hand with trainer.resume=true, or by re-running the same command with trainer.resume=auto as
a requeued SLURM job does) ends at the same epoch count, with metrics.jsonl holding every
epoch once and the best weights kept."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import h5py
import pytest

from diffexp import names
from diffexp.training import records
from tests.conftest import subprocess_env
from tests.reliability.support import run_train, train_command, wait_for

pytestmark = pytest.mark.slow

STEPS = 80  # optimizer steps per epoch: a second or two per epoch on a loaded 2-core machine
EPOCHS = 3


def _checkpointed_epoch(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / names.LAST_CHECKPOINT / "state.json").read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _kill_during_epoch_two(run_dir: Path, *overrides: str) -> list[dict]:
    """Start a run, SIGKILL it after epoch 1 is checkpointed (inside epoch 2)."""
    process = subprocess.Popen(
        train_command(
            f"hydra.run.dir={run_dir}",
            f"trainer.epochs={EPOCHS}",
            f"trainer.steps_per_epoch={STEPS}",
            "trainer.early_stopping.patience=null",
            *overrides,
        ),
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _checkpointed_epoch(run_dir) >= 1, timeout=180, process=process)
        time.sleep(0.3)  # into epoch 2's steps
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    rows = records.read_metrics(run_dir)
    assert 1 <= len(rows) < EPOCHS, "the kill should land before the last epoch"
    return rows


def _assert_complete_run(run_dir: Path, before_kill: list[dict]) -> None:
    rows = records.read_metrics(run_dir)
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))  # no duplicate, no gap
    assert [r["step"] for r in rows] == [STEPS * e for e in range(1, EPOCHS + 1)]
    checkpointed = _checkpointed_epoch(run_dir)
    assert checkpointed == EPOCHS
    kept = [r for r in before_kill if r["epoch"] <= 1]
    assert rows[: len(kept)] == kept  # the checkpointed epochs are kept as they were
    summary = json.loads((run_dir / names.SUMMARY_FILE).read_text())
    assert summary["stop_reason"] == "completed"
    assert summary["epochs_completed"] == EPOCHS
    best = min(rows, key=lambda r: r["val_loss"])
    assert summary["best_epoch"] == best["epoch"]
    assert summary["best_val_loss"] == best["val_loss"]
    with h5py.File(run_dir / names.BEST_WEIGHTS, "r") as weights:  # a whole weights file
        assert len(weights.keys()) > 0
    assert not list(run_dir.glob(".*.tmp*")), "temporary files left behind"


# The example package's denoiser (examples/ring_conv_denoiser, with its config files added by
# hydra.searchpath) resumes like the built-ins.
EXAMPLE_DENOISER = ["hydra.searchpath=[pkg://ring_conv_denoiser.conf]", "model=ring_conv"]


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param([], id="fp32"),
        pytest.param(["precision=mixed_float16", "precision.force=true"], id="float16"),
        pytest.param(EXAMPLE_DENOISER, id="example_denoiser"),
    ],
)
def test_sigkill_mid_epoch_then_resume_true_finishes_every_epoch_once(tmp_path, overrides):
    run_dir = tmp_path / "run"
    before = _kill_during_epoch_two(run_dir, *overrides)
    process = run_train(
        f"hydra.run.dir={run_dir}",
        f"trainer.epochs={EPOCHS}",
        f"trainer.steps_per_epoch={STEPS}",
        "trainer.early_stopping.patience=null",
        "trainer.resume=true",
        *overrides,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    _assert_complete_run(run_dir, before)


def test_requeued_command_with_resume_auto_continues_from_the_checkpoint(tmp_path):
    """What submitit does after a SLURM time limit/preemption (max_num_timeout > 0): run the
    identical command again in the same folder. resume=auto starts fresh the first time and
    resumes the second."""
    run_dir = tmp_path / "run"
    before = _kill_during_epoch_two(run_dir, "trainer.resume=auto")
    process = run_train(
        f"hydra.run.dir={run_dir}",
        f"trainer.epochs={EPOCHS}",
        f"trainer.steps_per_epoch={STEPS}",
        "trainer.early_stopping.patience=null",
        "trainer.resume=auto",
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert "resumed from epoch" in process.stdout + process.stderr
    _assert_complete_run(run_dir, before)
