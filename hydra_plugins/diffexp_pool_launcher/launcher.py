"""Hydra launcher `hydra/launcher=pool`: trials in warm worker processes on this machine.

Same jobs as `hydra/launcher=submitit_local` (each in its own `hydra.sweep.dir/subdir` with
its `.hydra/` snapshot and log, the task's return value in the JobReturn), but a worker
imports TensorFlow and diffexp once and then runs trial after trial, instead of a fresh
Python process per trial. Config: `conf/hydra/launcher/pool.yaml`.

`launch` is thread-safe and runs its jobs in parallel: diffexp's sweeper calls it with one
trial from each of its `n_jobs` slot threads; a batch from the official sweeper runs one job
per worker at once. A job whose worker dies comes back as a FAILED JobReturn whose error is
submitit's `UncompletedJobError` (the sweeper records the trial FAIL, "process died: ..."),
as the submitit launchers report a dead job process.
"""

from __future__ import annotations

import atexit
import logging
import pickle
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from diffexp.errors import ConfigError, exit_on_user_error

log = logging.getLogger(__name__)

START_METHODS = ("spawn", "forkserver")  # fork copies TensorFlow's threads and locks: unsafe


class PoolLauncher(Launcher):
    """Warm worker processes, one per trial in flight, reused from trial to trial."""

    def __init__(
        self,
        max_workers: int | None = None,
        max_tasks_per_worker: int | None = None,
        start_method: str = "spawn",
        timeout_min: float | None = None,
        output_folder: str | None = None,
    ) -> None:
        with exit_on_user_error():
            _check_config(max_workers, max_tasks_per_worker, start_method, timeout_min)
        self.max_workers = max_workers
        self.max_tasks_per_worker = max_tasks_per_worker
        self.start_method = start_method
        self.timeout_s = None if timeout_min is None else float(timeout_min) * 60.0
        self.output_folder = None if output_folder is None else str(Path(output_folder).absolute())
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self._slots = None
        self._lock = threading.Lock()

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None
        setup_globals()
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
        for idx, overrides in jobs:
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        if len(jobs) == 1:
            return [self._run_job(*jobs[0])]
        with ThreadPoolExecutor(len(jobs), thread_name_prefix="pool-launch") as threads:
            return list(threads.map(lambda job: self._run_job(*job), jobs))

    def close(self) -> None:
        """Stop the workers (also at interpreter exit): none outlives the sweep."""
        with self._lock:
            slots, self._slots = self._slots, None
        if slots is not None:
            slots.close()

    def _run_job(self, idx: int, overrides: list[str]) -> JobReturn:
        from hydra_plugins.diffexp_pool_launcher.workers import WorkerLostError

        data = self._payload(idx, overrides)
        slots = self._worker_slots()
        worker = slots.acquire()
        try:
            return pickle.loads(worker.run(data, self.timeout_s))
        except WorkerLostError as lost:
            where = (
                f"; its output: {self.output_folder}/{idx}_log.err" if self.output_folder else ""
            )
            return _lost_job(overrides, idx, f"{lost}{where}")
        finally:
            slots.release(worker)

    def _payload(self, idx: int, overrides: list[str]) -> bytes:
        import cloudpickle

        from hydra_plugins.diffexp_pool_launcher.job_runner import JobPayload

        assert self.hydra_context is not None and self.task_function is not None
        with self._lock:  # one thread at a time reads the singletons and pickles the config
            payload = JobPayload(
                hydra_context=self.hydra_context,
                task_function=self.task_function,
                config=self.config,
                overrides=overrides,
                job_num=idx,
                singleton_state=Singleton.get_state(),
                output_folder=self.output_folder,
            )
            return cloudpickle.dumps(payload)

    def _worker_slots(self):
        """The worker pool, created on the first job: after the sweeper set DIFFEXP_THREADS."""
        from hydra_plugins.diffexp_pool_launcher.workers import WorkerSlots

        with self._lock:
            if self._slots is None:
                self._slots = WorkerSlots(
                    self.start_method, self.max_workers, self.max_tasks_per_worker
                )
                atexit.register(_close_at_exit, weakref.ref(self))
            return self._slots


def _close_at_exit(launcher_ref: weakref.ref) -> None:
    launcher = launcher_ref()
    if launcher is not None:
        launcher.close()


def _lost_job(overrides: list[str], idx: int, lost: str) -> JobReturn:
    """A FAILED JobReturn carrying submitit's UncompletedJobError, as a dead submitit job."""
    from submitit.core.utils import UncompletedJobError

    log.error("job #%d: %s", idx, lost)
    ret = JobReturn(overrides=overrides, status=JobStatus.FAILED)
    ret.return_value = UncompletedJobError(lost)
    return ret


def _check_config(
    max_workers: int | None,
    max_tasks_per_worker: int | None,
    start_method: str,
    timeout_min: float | None,
) -> None:
    if start_method not in START_METHODS:
        raise ConfigError(
            f"hydra.launcher.start_method={start_method} is not one of {', '.join(START_METHODS)}"
            " (fork is unsafe once TensorFlow has started threads); use spawn"
        )
    for key, value in (
        ("max_workers", max_workers),
        ("max_tasks_per_worker", max_tasks_per_worker),
    ):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"hydra.launcher.{key}={value} must be a positive integer or null")
    if timeout_min is not None and not float(timeout_min) > 0:
        raise ConfigError(f"hydra.launcher.timeout_min={timeout_min} must be > 0 or null")
