"""The worker side of the pool launcher: run one Hydra job after another in this process.

A fresh process per trial (submitit_local) pays for the interpreter, the TensorFlow import and
Hydra's plugin scan before every trial; at smoke and default sizes that is most of a trial.
A worker pays it once. Each job still runs through Hydra's own `run_job` with the sweep
config composed here, as the submitit launcher does in its job process, so the job folder,
its `.hydra/` snapshot, its log file and its JobReturn are the ones any Hydra launcher gives.

What one job leaves behind must not leak into the next: Hydra's singletons are restored from
the launcher's state before each job, Keras' session and global dtype policy are reset after
it, and logging goes back to Hydra's own config (closing the job's log file).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)

STOP = b""  # sent instead of a payload: the worker returns


@dataclass
class JobPayload:
    """Everything a worker needs for one job; cloudpickled (the task may live in __main__)."""

    hydra_context: HydraContext
    task_function: TaskFunction
    config: DictConfig
    overrides: list[str]
    job_num: int
    singleton_state: dict[str, Any]
    output_folder: str | None = None


def serve(conn: Connection) -> None:
    """Worker main loop: a payload in, a pickled JobReturn out, until STOP or the pipe closes
    (the launcher's process is gone: exit rather than linger as an orphan)."""
    _exit_with_parent()
    _keep_data_across_jobs()
    jobs_run = 0
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if data == STOP:
            return
        jobs_run += 1
        result = run_payload(data, jobs_run)
        try:
            conn.send_bytes(result)
        except (BrokenPipeError, OSError):
            return
        # After the answer: the sweeper records this trial and asks the next one meanwhile.
        reset_between_jobs()


def _exit_with_parent() -> None:
    """Exit the moment the sweeper's process ends, even in the middle of a trial.

    The pipe tells a waiting worker, but a worker that is training does not read it: after a
    SIGKILL of the sweeper it trained on as an orphan, holding the trial RUNNING (and keeping
    multiprocessing's resource tracker alive). The trial it leaves stops beating, so a
    sweeper marks it FAIL "heartbeat lost" after the grace period."""
    import multiprocessing
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        print(
            f"diffexp pool worker {os.getpid()}: the sweeper (pid {parent.pid}) is gone; exiting",
            file=sys.stderr,
            flush=True,
        )
        os._exit(3)

    threading.Thread(target=watch, name="exit-with-sweeper", daemon=True).start()


def _keep_data_across_jobs() -> None:
    """Trials in this worker share their prepared data (diffexp.training.worker_cache): a
    search changes the model, not the data, and preparing it again is per-trial overhead; and
    trials whose graphs have the same shape share one compiled trainer
    (diffexp.training.trainer_cache), so only the first of them traces and compiles."""
    from diffexp.training import trainer_cache, worker_cache

    worker_cache.enable()
    trainer_cache.enable()


def _keeps_compiled_trainers() -> bool:
    trainer_cache = sys.modules.get("diffexp.training.trainer_cache")
    return trainer_cache is not None and trainer_cache.enabled()


def run_payload(data: bytes, jobs_run: int) -> bytes:
    """Run the job in `data`; always answer a JobReturn (FAILED if even the setup failed)."""
    import cloudpickle

    overrides: list[str] = []
    try:
        payload: JobPayload = cloudpickle.loads(data)
        overrides = payload.overrides
        with _job_output(payload.output_folder, payload.job_num):
            ret = _run_job(payload, jobs_run)
    except (Exception, SystemExit) as error:  # a bad override, a task calling sys.exit
        ret = JobReturn(overrides=overrides, status=JobStatus.FAILED)
        ret.return_value = error
    try:
        return cloudpickle.dumps(ret)
    except Exception as error:  # an unpicklable return value must not kill the worker
        failed = JobReturn(overrides=ret.overrides, status=JobStatus.FAILED)
        failed.return_value = TypeError(f"the job's return value cannot be pickled: {error}")
        return cloudpickle.dumps(failed)


def _run_job(payload: JobPayload, jobs_run: int) -> JobReturn:
    _restore_singletons(payload.singleton_state)
    setup_globals()
    context = payload.hydra_context
    sweep_config = context.config_loader.load_sweep_config(payload.config, payload.overrides)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = str(payload.job_num)
        sweep_config.hydra.job.num = payload.job_num
    try:
        return run_job(
            hydra_context=context,
            task_function=_announced(payload.task_function, payload.job_num, jobs_run),
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    finally:
        configure_log(
            payload.config.hydra.hydra_logging,
            payload.config.hydra.verbose,
            execution_whitelist=context.execution_whitelist,
        )


@contextlib.contextmanager
def _job_output(folder: str | None, job_num: int) -> Iterator[None]:
    """Send this job's stdout and stderr (file descriptors 1 and 2, so TensorFlow's C++ logs
    too) to `<folder>/<job_num>_log.out` and `.err`, as submitit does; None: leave them be.
    Parallel trials would otherwise interleave their output and progress bars on the terminal.
    """
    if folder is None:
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    saved = []
    try:
        for fd, suffix in ((1, "out"), (2, "err")):
            stream = sys.stdout if fd == 1 else sys.stderr
            stream.flush()
            with open(Path(folder) / f"{job_num}_log.{suffix}", "ab") as target:
                saved.append((fd, os.dup(fd)))
                os.dup2(target.fileno(), fd)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


def _restore_singletons(state: dict[str, Any]) -> None:
    """Hydra's singletons as the launcher had them; keep this worker's plugin registry, which
    `Singleton.set_state` would otherwise rebuild by rescanning every plugin."""
    from hydra.core.plugins import Plugins

    instances = dict(state["instances"])
    plugins = Singleton._instances.get(Plugins)
    if plugins is not None:
        instances[Plugins] = plugins
    Singleton.set_state({**state, "instances": instances})


def _announced(task_function: TaskFunction, job_num: int, jobs_run: int) -> TaskFunction:
    """The task, first logging (into the job's own log) which worker runs it."""

    @functools.wraps(task_function)
    def task(cfg: DictConfig) -> Any:
        log.info("pool worker pid %d runs job #%d, its job %d", os.getpid(), job_num, jobs_run)
        return task_function(cfg)

    return task


def reset_between_jobs() -> None:
    """Drop the last job's Keras graphs and dtype policy (a mixed-precision trial must not
    turn the next one mixed); only if the job imported Keras at all. While the worker keeps
    compiled trainers (diffexp.training.trainer_cache) Keras' session is not cleared: that
    also clears TensorFlow's kernel cache, and every kept function would be instantiated
    again (~1 s a trial); what else it resets is Keras' layer-name counters, which diffexp
    does not depend on (checkpoints key variables by the names the model builders set)."""
    keras = sys.modules.get("keras")
    try:
        if keras is not None:
            if not _keeps_compiled_trainers():
                keras.backend.clear_session()
            keras.mixed_precision.set_global_policy("float32")
        gc.collect()
    except Exception:  # the job has answered already; the next one starts from here anyway
        log.exception("pool worker %d: resetting Keras after a job failed", os.getpid())
