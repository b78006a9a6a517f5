"""Helpers of the SLURM fault tests: a sweep through `hydra/launcher=submitit_slurm` started in
the background, so the test can act on its jobs (scancel, scontrol requeue) while it runs.
Imported as `tests.slurm.support` (a plain module name would clash with other areas)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna

from tests.conftest import REPO, subprocess_env
from tests.tuning.sweep_helpers import TINY_APP

SLURM_JOB = (
    "hydra/launcher=submitit_slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
)


def start_tiny_sweep(
    folder: Path, storage: str, *overrides: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """The tiny app's `-m` sweep as SLURM jobs, in the background, output to files; `env`
    is added to the sweeper's environment (which its SLURM jobs inherit)."""
    command = [
        sys.executable,
        str(TINY_APP),
        "-m",
        f"hydra.searchpath=[file://{REPO / 'conf'}]",
        *SLURM_JOB,
        f"paths.study_storage={storage}",
        *overrides,
    ]
    return start(command, folder, env)


def start(command: list[str], folder: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`command` in `folder`, stdout/stderr to sweep.out/sweep.err there."""
    return subprocess.Popen(
        command,
        cwd=folder,
        env={**subprocess_env(), **(env or {})},
        stdout=(folder / "sweep.out").open("w"),
        stderr=(folder / "sweep.err").open("w"),
    )


def finish(process: subprocess.Popen, folder: Path, timeout: float = 300) -> str:
    """Wait for the sweep; its output (stdout + stderr) for assertion messages."""
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return output(folder)


def output(folder: Path) -> str:
    return (folder / "sweep.out").read_text()[-3000:] + (folder / "sweep.err").read_text()[-4000:]


def wait_for(
    predicate: Callable[[], bool], process: subprocess.Popen, folder: Path, timeout: float = 240
) -> None:
    """Poll `predicate` until true; fail with the sweep's output if the sweep ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise AssertionError(f"the sweep ended first ({process.returncode}):\n{output(folder)}")
        time.sleep(0.5)
    raise AssertionError(f"condition not reached in {timeout} s:\n{output(folder)}")


def reported_epochs(storage: str, study_name: str, number: int) -> int:
    """How many epochs trial `number` has reported so far (0 before the study exists)."""
    try:
        trials = optuna.load_study(study_name=study_name, storage=storage).trials
    except KeyError:
        return 0
    by_number = {t.number: t for t in trials}
    return len(by_number[number].intermediate_values) if number in by_number else 0


def slurm_job_id(trial_folder: Path) -> str:
    """The job id the tiny app wrote at its start ('' before it started)."""
    path = trial_folder / "slurm_job_id.txt"
    return path.read_text().strip() if path.exists() else ""


def scontrol_field(job_id: str, name: str) -> str:
    """One field of `scontrol show job` (the cluster has no accounting for sacct)."""
    line = subprocess.run(
        ["scontrol", "--oneliner", "show", "job", job_id], capture_output=True, text=True
    ).stdout
    for token in line.split():
        key, _, value = token.partition("=")
        if key == name:
            return value
    return ""


def requeue_and_release(job_id: str, process: subprocess.Popen, folder: Path) -> None:
    """`scontrol requeue` the job, then start it again now instead of after Slurm's ~2 min
    hold (Reason=BeginTime).

    Why not at once: slurmd revokes the old run's job credential when it kills it and refuses
    any launch whose credential dates from that same second or earlier (it compares whole
    seconds), failing the job with "Job credential revoked". Slurm's hold exists for that; the
    release waits until two whole seconds after the requeue, so the new credential is newer."""
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    requeued_at = time.time()
    wait_for(lambda: scontrol_field(job_id, "Reason") == "BeginTime", process, folder)
    time.sleep(max(0.0, int(requeued_at) + 2 - time.time()))
    subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], check=True)
