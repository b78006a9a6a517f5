"""The launcher side of the pool: one worker process per trial slot, started on first use.

Why one process per slot and not one shared `ProcessPoolExecutor`: a shared pool that loses a
worker (SIGKILL, out of memory, a segfault in native code) is broken for every job in it. Here
a worker that dies fails only the job it was running; its slot starts a fresh process for the
next job, and jobs in the other slots never notice.

Workers start lazily, on the first job of their slot, so they inherit the environment the
sweeper has set by then (DIFFEXP_THREADS: each trial's share of the cores).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from hydra_plugins.diffexp_pool_launcher.job_runner import STOP, serve

log = logging.getLogger(__name__)

STOP_GRACE_S = 10.0  # an idle worker exits at once; a busy one is killed after this


class WorkerLostError(RuntimeError):
    """The worker process ended (or was killed for its time limit) before it answered."""


class Worker:
    """One worker process and its pipe; used by one thread at a time (see `WorkerSlots`)."""

    def __init__(self, context: multiprocessing.context.BaseContext, max_jobs: int | None) -> None:
        self._context = context
        self._max_jobs = max_jobs
        self._process: Any = None
        self._conn: Connection | None = None
        self._jobs = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def run(self, data: bytes, timeout_s: float | None) -> bytes:
        """Send one job, wait for its answer; raise WorkerLostError if the process ends first."""
        if self._process is None:
            self._start()
        assert self._conn is not None and self._process is not None
        self._jobs += 1
        try:
            answer = _exchange(self._process, self._conn, data, timeout_s)
        except WorkerLostError:
            self.stop(kill=True)
            raise
        if self._max_jobs is not None and self._jobs >= self._max_jobs:
            self.stop()  # recycled: the next job starts a fresh process
        return answer

    def stop(self, kill: bool = False) -> None:
        """Ask the process to exit (killed if busy for longer than STOP_GRACE_S, or at once)."""
        process, conn = self._process, self._conn
        if process is None:
            return
        if not kill and conn is not None:
            with contextlib.suppress(OSError):
                conn.send_bytes(STOP)
            process.join(timeout=STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()
        self._forget()

    def _start(self) -> None:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=serve, args=(child_end,), name="diffexp-pool-worker", daemon=False
        )
        process.start()
        child_end.close()
        self._process, self._conn, self._jobs = process, parent_end, 0
        log.debug("pool worker %d started", process.pid)

    def _forget(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None


def _exchange(process: Any, conn: Connection, data: bytes, timeout_s: float | None) -> bytes:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        conn.send_bytes(data)
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait([conn, process.sentinel], timeout=left)
            if conn in ready or conn.poll():
                return conn.recv_bytes()
            if ready:  # only the sentinel: the process has ended
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise WorkerLostError(
                    f"pool worker {process.pid} killed: the job ran past its time limit of "
                    f"{timeout_s / 60:g} min (hydra.launcher.timeout_min)"
                )
    except (EOFError, OSError):
        pass  # the pipe broke: the process has ended or is ending
    process.join(timeout=STOP_GRACE_S)
    raise WorkerLostError(_death_line(process.pid, process.exitcode))


def _death_line(pid: int | None, exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        how = f"was killed by {signal.Signals(-exitcode).name}"
    else:
        how = f"exited with code {exitcode}"
    return (
        f"pool worker {pid} {how} while running the job (out of memory, a crash in native "
        "code, or killed from outside); its slot starts a fresh worker"
    )


class WorkerSlots:
    """A free list of workers: `acquire` lends one to a launching thread, `release` takes it
    back. At most `max_workers` exist (None: as many as jobs run at once)."""

    def __init__(
        self,
        start_method: str,
        max_workers: int | None,
        max_jobs_per_worker: int | None,
    ) -> None:
        self._context = multiprocessing.get_context(start_method)
        self._max_workers = max_workers
        self._max_jobs = max_jobs_per_worker
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._free = threading.Condition()

    def acquire(self) -> Worker:
        with self._free:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._max_workers is None or len(self._all) < self._max_workers:
                    worker = Worker(self._context, self._max_jobs)
                    self._all.append(worker)
                    return worker
                self._free.wait()

    def release(self, worker: Worker) -> None:
        with self._free:
            self._idle.append(worker)
            self._free.notify()

    def close(self) -> None:
        """Stop every worker (busy ones are killed after the grace period); no orphans."""
        with self._free:
            workers = list(self._all)
        for worker in workers:
            worker.stop()
