"""How many trials run at once on this machine, and how many threads each one gets.

Parallel trials that each size TensorFlow's thread pools to all cores fight over them and
run slower together than one at a time. On local launchers the sweeper caps `n_jobs` to the
cores it may use and hands each trial `cores // n_jobs` threads through `DIFFEXP_THREADS`
(read by diffexp's runtime; inherited by submitit's local subprocesses). SLURM jobs get their
cores from `cpus_per_task` (SLURM_CPUS_PER_TASK), so neither applies there.
"""

from __future__ import annotations

import logging
import os

from diffexp.runtime import THREADS_ENV, available_cores

__all__ = ["THREADS_ENV", "available_cores", "launcher_kind", "set_trial_threads", "slots_for"]

log = logging.getLogger(__name__)


def launcher_kind(launcher: object) -> str:
    """'inprocess' (Hydra's basic launcher), 'cluster' (SLURM) or 'local' (processes here)."""
    name = type(launcher).__name__
    if name == "BasicLauncher":
        return "inprocess"
    if "Slurm" in name:
        return "cluster"
    return "local"


def slots_for(n_jobs: int, kind: str, cap_to_cores: bool, cores: int | None = None) -> int:
    """Trials in flight: 1 in-process, `n_jobs` on a cluster, else capped to the cores."""
    n_jobs = max(1, int(n_jobs))
    if kind == "inprocess":
        if n_jobs > 1:
            log.info(
                "n_jobs=%d -> 1: the basic launcher runs trials one at a time in this "
                "process; use hydra/launcher=submitit_local for parallel trials",
                n_jobs,
            )
        return 1
    if kind == "cluster" or not cap_to_cores:
        return n_jobs
    cores = cores or available_cores()
    if n_jobs > cores:
        log.info(
            "n_jobs=%d capped to %d, the CPU cores available here "
            "(hydra.sweeper.cap_n_jobs_to_cores=false to oversubscribe)",
            n_jobs,
            cores,
        )
        return cores
    return n_jobs


def set_trial_threads(slots: int, kind: str, cores: int | None = None) -> int | None:
    """Export DIFFEXP_THREADS = max(1, cores // slots) for local trials; returns it (or None)."""
    if kind == "cluster":
        return None
    threads = max(1, (cores or available_cores()) // max(1, slots))
    os.environ[THREADS_ENV] = str(threads)
    log.info("%s=%d threads per trial (%d in flight)", THREADS_ENV, threads, slots)
    return threads
