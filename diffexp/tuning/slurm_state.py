"""SLURM job states for trials when `sacct` cannot tell: ask the controller instead.

submitit (1.5.4) learns a job's state only from `sacct`. A cluster without an accounting
database (small clusters, the tests' own) answers "Slurm accounting storage is disabled", so
every job reads UNKNOWN; a job that ends without writing its result (cancelled, timed out,
killed) then reads UNKNOWN forever, and the sweeper waits forever with its trial RUNNING.

`ControllerInfoWatcher` replaces submitit's watcher (one place: `install_watcher`, called by
diffexp's SLURM launcher before it submits). It still asks `sacct` first (where accounting
exists it is the authority, and it remembers jobs for ever); for the jobs `sacct` does not
know it asks `squeue` (one call for all of them), and for the jobs `squeue` does not list,
`scontrol show job`. The controller forgets a finished job after MinJobAge (300 s by default),
far longer than the watcher's polling interval, so a cancelled job reads CANCELLED and a job
over its time limit TIMEOUT. A job that none of the three can read for longer than
`unreadable_timeout_s` (a controller that is gone, a job purged before anyone looked) gets
the state LOST, which counts as ended, so the trial fails with a reason instead of hanging.

`ended_job_error` turns submitit's "has not produced any output" error into one line that
names the job's state and what it means; the sweeper records that line as the trial's
`fail_reason`.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from submitit.core.utils import UncompletedJobError
from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

log = logging.getLogger(__name__)

LOST_STATE = "LOST"  # diffexp's own: no tool could read the job's state for too long
DEFAULT_UNREADABLE_TIMEOUT_S = 600.0
DEFAULT_POLL_DELAY_S = 60  # at most this long between two state checks of a running job
COMMAND_TIMEOUT_S = 30

# States in which a job may still write its result; every other state has ended. submitit's
# own list misses CONFIGURING, SUSPENDED, the REQUEUE_* and a few transient ones, which it
# would take for ended.
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "STOPPED",
        "SIGNALING",
        "STAGE_OUT",
        "RESIZING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "PREEMPTED",  # submitit requeues preempted jobs itself
        "READY",
        "UNKNOWN",
        "",
    }
)

# What an ended state means for a trial, in the words of its fail_reason.
STATE_MEANINGS = {
    "CANCELLED": "cancelled (scancel, an administrator or the cluster)",
    "TIMEOUT": "hit its time limit (hydra.launcher.timeout_min)",
    "FAILED": "the job failed outside the trial (see its SLURM log)",
    "NODE_FAIL": "its node failed",
    "OUT_OF_MEMORY": "ran out of memory (hydra.launcher.mem_gb)",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "reached its deadline",
    "PREEMPTED": "preempted",
    "COMPLETED": "the job ended without the trial's result",
}

Runner = Callable[[list[str]], subprocess.CompletedProcess]


def base_state(state: str | None) -> str:
    """'CANCELLED by 0' -> 'CANCELLED'; None or blank -> ''."""
    return (state or "").strip().split(" ", 1)[0].upper()


def is_active(state: str | None) -> bool:
    """True while the job may still run and write its result."""
    return base_state(state) in ACTIVE_STATES


def parse_squeue(text: str) -> dict[str, dict[str, str]]:
    """Output of `squeue --noheader --states=all --format=%i|%T|%r|%N` -> {job id: info}."""
    infos = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0]:
            continue
        job_id, state = parts[0], parts[1]
        info = {"JobID": job_id, "State": state, "Source": "squeue"}
        if len(parts) > 2:
            info["Reason"] = parts[2]
        if len(parts) > 3:
            info["NodeList"] = parts[3]
        infos[job_id] = info
    return infos


def parse_scontrol(text: str) -> dict[str, dict[str, str]]:
    """Output of `scontrol --oneliner show job <ids>` -> {job id: info}. An array task is
    listed as `<ArrayJobId>_<ArrayTaskId>` (submitit's name for it; a pending array's
    remainder keeps the array's JobId, so that id alone is ambiguous)."""
    infos = {}
    for line in text.splitlines():
        fields = _key_values(line)
        job_id = fields.get("JobId")
        if not job_id or "JobState" not in fields:
            continue
        info = {
            "JobID": job_id,
            "State": fields["JobState"],
            "Reason": fields.get("Reason", ""),
            "NodeList": fields.get("NodeList", ""),
            "Restarts": fields.get("Restarts", "0"),
            "Source": "scontrol",
        }
        array_job, array_task = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
        if array_job and array_task:  # an array task: its own JobId means nothing to submitit
            if array_task.isdigit():
                infos[f"{array_job}_{array_task}"] = info
            continue
        infos[job_id] = info
    return infos


def _key_values(line: str) -> dict[str, str]:
    """`Key=value Key2=value with spaces` -> dict; a token without '=' continues the value."""
    fields: dict[str, str] = {}
    key = None
    for token in line.split():
        name, equals, value = token.partition("=")
        if equals and re.fullmatch(r"[A-Za-z][\w/:]*", name):
            key = name
            fields[key] = value
        elif key is not None:
            fields[key] += " " + token
    return fields


def _run_command(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)


def query_controller(job_ids: Iterable[str], run: Runner = _run_command) -> dict[str, dict]:
    """States of `job_ids` from slurmctld: `squeue` for all, `scontrol` for those it misses.
    A job neither knows is absent from the result."""
    wanted = sorted(set(job_ids))
    if not wanted:
        return {}
    infos: dict[str, dict[str, str]] = {}
    squeue = [
        "squeue",
        "--noheader",
        "--states=all",
        "--format=%i|%T|%r|%N",
        f"--jobs={','.join(wanted)}",
    ]
    infos.update(_parsed(run, squeue, parse_squeue))
    for job_id in (j for j in wanted if j not in infos):
        infos.update(
            _parsed(run, ["scontrol", "--oneliner", "show", "job", job_id], parse_scontrol)
        )
    return {job_id: infos[job_id] for job_id in wanted if job_id in infos}


def active_job_ids(job_ids: Iterable[str], run: Runner = _run_command) -> set[str]:
    """The jobs among `job_ids` that the controller still holds as pending, running or
    requeued. Why: a requeued job waits ~2 min (Reason=BeginTime) and then restarts its
    trial without beating meanwhile; a liveness check should not fail a trial whose job is
    one of these. A job the controller does not know is not in the result."""
    infos = query_controller(job_ids, run)
    return {
        job_id
        for job_id, info in infos.items()
        if is_active(info["State"]) and base_state(info["State"]) not in ("", "UNKNOWN")
    }


def _parsed(run: Runner, command: list[str], parse: Callable[[str], dict]) -> dict:
    """`parse` of the command's output; {} when it fails (an unknown job id makes both tools
    exit 1: that is an answer, 'not known', not an error worth a warning)."""
    try:
        done = run(command)
    except (OSError, subprocess.SubprocessError) as error:
        log.debug("%s failed: %s", command[0], error)
        return {}
    return parse(done.stdout or "") if done.returncode == 0 else {}


class ControllerInfoWatcher(SlurmInfoWatcher):
    """submitit's SLURM watcher, reading states from squeue/scontrol where sacct cannot."""

    def __init__(
        self,
        delay_s: int = DEFAULT_POLL_DELAY_S,
        unreadable_timeout_s: float = DEFAULT_UNREADABLE_TIMEOUT_S,
        run: Runner = _run_command,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(delay_s=delay_s)
        self.unreadable_timeout_s = unreadable_timeout_s
        self._run = run
        self._clock = clock
        self._sacct_usable = True
        self._unreadable_since: dict[str, float] = {}
        self._lock = threading.RLock()  # the sweeper's slots share this watcher

    def is_done(self, job_id: str, mode: str = "standard") -> bool:
        return not is_active(self.get_state(job_id, mode=mode))

    def update(self) -> None:
        """Refresh every unfinished job: sacct, then the controller, then the LOST deadline."""
        with self._lock:
            pending = self._registered - self._finished
            if not pending:
                return
            self._num_calls += 1
            fresh = self._from_sacct(pending)
            self._info_dict.update(fresh)
            unread = {
                j for j in pending if base_state(fresh.get(j, {}).get("State")) in ("", "UNKNOWN")
            }
            from_controller = query_controller(unread, self._run)
            self._info_dict.update(from_controller)
            self._apply_deadline(unread - set(from_controller))
            self._last_status_check = time.time()  # submitit's clock for its polling delay
            for job_id in pending:
                if self.is_done(job_id, mode="cache"):
                    self._finished.add(job_id)

    def _from_sacct(self, pending: set[str]) -> dict[str, dict[str, str]]:
        """submitit's own sacct query, skipped for good once sacct says accounting is off."""
        if not self._sacct_usable:
            return {}
        command = ["sacct", "-o", "JobID,State,NodeList", "--parsable2"]
        for main_id in sorted({j.split("_")[0] for j in pending}):
            command += ["-j", main_id]
        try:
            done = self._run(command)
        except (OSError, subprocess.SubprocessError) as error:
            log.debug("sacct failed: %s", error)
            return {}
        if "accounting storage is disabled" in (done.stdout or "") + (done.stderr or ""):
            self._sacct_usable = False
            log.info("sacct: accounting is off on this cluster; job states come from squeue")
            return {}
        return self.read_info(done.stdout or "") if done.returncode == 0 else {}

    def _apply_deadline(self, unreadable: set[str]) -> None:
        now = self._clock()
        for job_id in set(self._unreadable_since) - unreadable:
            del self._unreadable_since[job_id]
        for job_id in unreadable:
            since = self._unreadable_since.setdefault(job_id, now)
            if now - since >= self.unreadable_timeout_s:
                minutes = self.unreadable_timeout_s / 60
                self._info_dict[job_id] = {
                    "JobID": job_id,
                    "State": LOST_STATE,
                    "Reason": f"no state from sacct, squeue or scontrol for {minutes:g} min",
                    "Source": "deadline",
                }


_install_lock = threading.Lock()


def install_watcher(
    unreadable_timeout_s: float = DEFAULT_UNREADABLE_TIMEOUT_S,
) -> ControllerInfoWatcher:
    """Make every submitit SLURM job of this process use a `ControllerInfoWatcher` (once;
    a later call only updates the deadline). submitit shares one watcher per job class."""
    with _install_lock:
        watcher = SlurmJob.watcher
        if not isinstance(watcher, ControllerInfoWatcher):
            watcher = ControllerInfoWatcher(unreadable_timeout_s=unreadable_timeout_s)
            SlurmJob.watcher = watcher
        watcher.unreadable_timeout_s = unreadable_timeout_s
        return watcher


class SlurmJobEndedError(RuntimeError):
    """A trial's SLURM job ended without the trial's result; the first line says how."""


_JOB_IN_MESSAGE = re.compile(r"^Job (\S+) \(task")


def ended_job_error(error: UncompletedJobError, watcher: SlurmInfoWatcher) -> BaseException:
    """submitit's 'Job <id> … has not produced any output (state: X)' as a SlurmJobEndedError
    naming the state and its meaning on its first line (submitit's text follows); the error
    itself when it names no job."""
    text = str(error)
    match = _JOB_IN_MESSAGE.match(text)
    if match is None:
        return error
    job_id = match.group(1)
    info: dict[str, Any] = watcher.get_info(job_id, mode="cache")
    state = base_state(info.get("State")) or "UNKNOWN"
    meaning = STATE_MEANINGS.get(state) or info.get("Reason") or "ended without a result"
    if state == LOST_STATE:
        meaning = info.get("Reason", meaning)
    return SlurmJobEndedError(
        f"SLURM job {job_id} {state}: {meaning}; the trial did not finish\n{text}"
    )
