"""SLURM faults on the real cluster (no accounting, so sacct cannot tell a job's state):
a trial's job cancelled with `scancel` fails that trial with a reason naming the cancellation
while the sweep finishes the others; a training trial requeued with `scontrol requeue`
continues from its checkpoint and trains every epoch once."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from diffexp.names import FAIL_REASON_ATTR, LAST_CHECKPOINT, METRICS_FILE, TRIAL_FILE
from tests.reliability.support import train_command
from tests.slurm.support import (
    SLURM_JOB,
    finish,
    reported_epochs,
    requeue_and_release,
    scontrol_field,
    slurm_job_id,
    start,
    start_tiny_sweep,
    wait_for,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_scancel_of_a_running_trial_fails_it_as_cancelled_and_the_sweep_goes_on(
    slurm_cluster, tmp_path
):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    process = start_tiny_sweep(
        tmp_path,
        storage,
        "profile.n_trials=4",
        "profile.n_jobs=2",
        "task.epochs=4",
        "task.long_trials=[0]",
        "task.long_epoch_seconds=10",  # trial 0 is still running when it is cancelled
        "hydra.sweeper.pruner.n_startup_trials=10",  # nothing pruned: every state is ours
        "hydra.sweeper.max_failure_rate=0.5",
    )
    trial_0 = tmp_path / "sweeps" / "run" / "trial_0"
    wait_for(lambda: reported_epochs(storage, "tiny", 0) >= 1, process, tmp_path)
    job_id = slurm_job_id(trial_0)
    subprocess.run(["scancel", job_id], check=True)
    log = finish(process, tmp_path)
    assert process.returncode == 0, log

    trials = {t.number: t for t in optuna.load_study(study_name="tiny", storage=storage).trials}
    assert sorted(trials) == [0, 1, 2, 3]
    assert trials[0].state == TrialState.FAIL
    reason = trials[0].user_attrs[FAIL_REASON_ATTR]
    assert f"SLURM job {job_id} CANCELLED" in reason, reason
    assert {trials[n].state for n in (1, 2, 3)} == {TrialState.COMPLETE}
    assert len(trials[0].intermediate_values) < 4  # it really was cut short
    record = json.loads((trial_0 / TRIAL_FILE).read_text())  # written by the sweeper for it
    assert record["state"] == "FAIL" and f"SLURM job {job_id} CANCELLED" in record["fail_reason"]


def _checkpoint_epoch(sweep_root: Path) -> int:
    """The epoch of trial 0's last checkpoint (0 before the first one)."""
    for state in sweep_root.glob(f"*/trial_0/{LAST_CHECKPOINT}/state.json"):
        with contextlib.suppress(ValueError, OSError):
            return int(json.loads(state.read_text())["epoch"])
    return 0


def test_scontrol_requeue_of_a_training_trial_resumes_from_its_checkpoint(slurm_cluster, tmp_path):
    """The real trainer with trainer.resume=auto: SLURM requeues the job, submitit runs the same
    command again in the same folder, and training continues from the last checkpoint."""
    epochs = 8
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    command = train_command(
        "--multirun",
        "hydra/sweeper=optuna",
        "search=phase1",
        f"paths.study_storage={storage}",
        *SLURM_JOB,
        "profile.n_trials=1",
        "profile.n_jobs=1",
        f"profile.epochs={epochs}",
        "profile.steps_per_epoch=150",  # epochs outlast the requeue's kill (KillWait 5 s)
        "trainer.early_stopping.patience=null",
        "trainer.resume=auto",
        "hydra/sweeper/pruner=none",
    )
    process = start(command, tmp_path, env={"DIFFEXP_ROOT": str(tmp_path)})
    sweeps = tmp_path / "outputs" / "sweeps"
    wait_for(lambda: _checkpoint_epoch(sweeps) >= 2, process, tmp_path, timeout=300)
    (job_folder,) = (p for p in sweeps.glob("*/.submitit/*") if p.name.isdigit())
    job_id = job_folder.name
    requeue_and_release(job_id, process, tmp_path)
    log = finish(process, tmp_path, timeout=400)
    assert process.returncode == 0, log

    (trial,) = optuna.load_study(study_name="phase1-smoke", storage=storage).trials
    assert trial.state == TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))
    assert scontrol_field(job_id, "Restarts") == "1"  # SLURM really ran it twice
    job_log = "".join(p.read_text() for p in job_folder.glob("*_log.*"))
    resumed = [int(epoch) for epoch in re.findall(r"resumed from epoch (\d+)", job_log)]
    assert len(resumed) == 1 and 2 <= resumed[0] < epochs, job_log[-3000:]  # mid-training
    trial_dir = job_folder.parent.parent / "trial_0"
    lines = (trial_dir / METRICS_FILE).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, epochs + 1))
    record = json.loads((trial_dir / TRIAL_FILE).read_text())
    assert record["state"] == "COMPLETE"
    listed = sorted(int(epoch) for epoch in record["intermediate_values"])
    assert listed == list(range(1, epochs + 1))  # both runs' epochs, from the storage
