"""Job states from squeue/scontrol when sacct cannot tell (diffexp/tuning/slurm_state.py), on
outputs recorded from the tests' two-node cluster (Slurm 22.05, no accounting). No cluster
needed: the commands are replaced by their recorded answers."""

from __future__ import annotations

import subprocess

import pytest
from submitit.core.utils import UncompletedJobError
from submitit.slurm.slurm import SlurmJob

from diffexp.tuning import slurm_state
from diffexp.tuning.slurm_state import (
    LOST_STATE,
    ControllerInfoWatcher,
    SlurmJobEndedError,
    active_job_ids,
    ended_job_error,
    install_watcher,
    parse_scontrol,
    parse_squeue,
    query_controller,
)

SQUEUE = """\
53|CANCELLED|None|node1
55_0|FAILED|NonZeroExitCode|node1
55_1|PENDING|Resources|
54|TIMEOUT|TimeLimit|node2
47|COMPLETED|None|node1
"""
SCONTROL_CANCELLED = (
    "JobId=53 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901747 "
    "Nice=0 Account=(null) QOS=(null) JobState=CANCELLED Reason=None Dependency=(null) "
    "Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15 RunTime=00:00:04 "
    "TimeLimit=UNLIMITED TimeMin=N/A Partition=debug AllocNode:Sid=localhost:7912 "
    "ReqNodeList=(null) NodeList=node1 BatchHost=node1 NumNodes=1 NumCPUs=1 CPUs/Task=1 "
    "ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* Command=(null) WorkDir=/tmp "
    "StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null Power= \n"
)
SCONTROL_ARRAY_PENDING = (
    "JobId=55 ArrayJobId=55 ArrayTaskId=1 JobName=wrap UserId=root(0) JobState=PENDING "
    "Reason=Resources Dependency=(null) Requeue=1 Restarts=0 NodeList= NumNodes=1 Power= \n"
)
SCONTROL_REQUEUED = (
    "JobId=61 JobName=train UserId=root(0) JobState=PENDING Reason=BeginTime "
    "Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 NodeList=(null) Power= \n"
)
UNKNOWN_JOB = "slurm_load_jobs error: Invalid job id specified\n"


class Cluster:
    """Answers squeue/scontrol/sacct like the recorded cluster; records every command."""

    def __init__(self, squeue: str = "", scontrol: dict[str, str] | None = None) -> None:
        self.squeue = squeue
        self.scontrol = scontrol or {}
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str]) -> subprocess.CompletedProcess:
        self.commands.append(command)
        if command[0] == "sacct":
            return subprocess.CompletedProcess(
                command, 1, "", "Slurm accounting storage is disabled\n"
            )
        if command[0] == "squeue":
            wanted = command[-1].split("=", 1)[1].split(",")
            lines = [line for line in self.squeue.splitlines() if line.split("|")[0] in wanted]
            if not lines:
                return subprocess.CompletedProcess(command, 1, "", UNKNOWN_JOB)
            return subprocess.CompletedProcess(command, 0, "\n".join(lines) + "\n", "")
        text = self.scontrol.get(command[-1])
        if text is None:
            return subprocess.CompletedProcess(command, 1, "", UNKNOWN_JOB)
        return subprocess.CompletedProcess(command, 0, text, "")


def test_squeue_lines_give_state_reason_and_nodes():
    infos = parse_squeue(SQUEUE)
    assert infos["53"]["State"] == "CANCELLED"
    assert infos["54"] == {
        "JobID": "54",
        "State": "TIMEOUT",
        "Reason": "TimeLimit",
        "NodeList": "node2",
        "Source": "squeue",
    }
    assert infos["55_0"]["State"] == "FAILED" and infos["55_1"]["State"] == "PENDING"


def test_scontrol_line_gives_state_and_array_tasks_by_submitit_name():
    infos = parse_scontrol(SCONTROL_CANCELLED + SCONTROL_ARRAY_PENDING + SCONTROL_REQUEUED)
    assert infos["53"]["State"] == "CANCELLED" and infos["53"]["NodeList"] == "node1"
    assert infos["55_1"]["State"] == "PENDING"
    assert "55" not in infos  # the pending remainder's JobId is the array's: ambiguous
    assert infos["61"]["Reason"] == "BeginTime" and infos["61"]["Restarts"] == "1"
    assert parse_scontrol(UNKNOWN_JOB) == {}


@pytest.mark.parametrize(
    ("state", "active"),
    [
        ("RUNNING", True),
        ("PENDING", True),
        ("REQUEUED", True),
        ("REQUEUE_HOLD", True),  # submitit alone would take these for ended
        ("SUSPENDED", True),
        ("CONFIGURING", True),
        ("UNKNOWN", True),
        ("CANCELLED by 0", False),
        ("TIMEOUT", False),
        ("COMPLETED", False),
        ("FAILED", False),
        (LOST_STATE, False),
    ],
)
def test_only_ended_states_end_a_job(state, active):
    assert slurm_state.is_active(state) is active


def test_controller_is_asked_with_squeue_then_scontrol_for_the_rest():
    cluster = Cluster(squeue=SQUEUE, scontrol={"60": SCONTROL_CANCELLED.replace("=53", "=60")})
    infos = query_controller(["53", "60", "999"], run=cluster)
    assert {job: info["State"] for job, info in infos.items()} == {
        "53": "CANCELLED",
        "60": "CANCELLED",
    }
    assert infos["60"]["Source"] == "scontrol"
    assert [c[0] for c in cluster.commands] == ["squeue", "scontrol", "scontrol"]
    assert query_controller([], run=cluster) == {}


def test_active_jobs_are_those_the_controller_holds_as_pending_or_running():
    cluster = Cluster(squeue=SQUEUE + "56|RUNNING|None|node2\n", scontrol={"61": SCONTROL_REQUEUED})
    assert active_job_ids(["53", "54", "55_1", "56", "61", "999"], run=cluster) == {
        "55_1",
        "56",
        "61",  # requeued, waiting for its begin time: alive
    }


def _poll(watcher: ControllerInfoWatcher, job_id: str) -> bool:
    """One state refresh of every registered job (what submitit's polling triggers); done?"""
    watcher.get_info(job_id, mode="cache")  # registers the job
    watcher.update()
    return watcher.is_done(job_id, mode="cache")


def _watcher(cluster: Cluster, clock: list[float], timeout_s: float = 600.0):
    return ControllerInfoWatcher(
        unreadable_timeout_s=timeout_s, run=cluster, clock=lambda: clock[0]
    )


def test_without_accounting_a_cancelled_job_reads_cancelled_and_is_done():
    cluster = Cluster(squeue="53|RUNNING|None|node1\n")
    watcher = _watcher(cluster, [0.0])
    assert not _poll(watcher, "53")
    cluster.squeue = SQUEUE
    assert _poll(watcher, "53")
    assert watcher.get_state("53", mode="cache") == "CANCELLED"
    # sacct said "accounting storage is disabled" once and is not asked again
    assert [c[0] for c in cluster.commands].count("sacct") == 1


def test_a_requeued_job_is_still_running():
    cluster = Cluster(scontrol={"61": SCONTROL_REQUEUED})
    watcher = _watcher(cluster, [0.0])
    assert not _poll(watcher, "61")
    assert watcher.get_info("61", mode="cache")["Reason"] == "BeginTime"


def test_a_job_nobody_can_read_is_lost_after_the_deadline_only():
    clock = [0.0]
    cluster = Cluster()
    watcher = _watcher(cluster, clock, timeout_s=600)
    assert not _poll(watcher, "70")
    clock[0] = 599.0
    assert not _poll(watcher, "70")
    cluster.squeue = "70|RUNNING|None|node2\n"  # readable again: the clock restarts
    clock[0] = 700.0
    assert not _poll(watcher, "70")
    cluster.squeue = ""
    clock[0] = 800.0
    assert not _poll(watcher, "70")
    clock[0] = 1400.0
    assert _poll(watcher, "70")
    info = watcher.get_info("70", mode="cache")
    assert info["State"] == LOST_STATE
    assert "sacct, squeue or scontrol" in info["Reason"] and "10 min" in info["Reason"]


def _uncompleted(job_id: str, state: str) -> UncompletedJobError:
    """submitit 1.5.4's message for a job that ended without its result pickle."""
    return UncompletedJobError(
        f"Job {job_id} (task: 0) with path /s/.submitit/{job_id}/{job_id}_0_result.pkl\n"
        f"has not produced any output (state: {state})\nError stream produced:\n----\nsrun: "
        "error: *** STEP CANCELLED ***"
    )


@pytest.mark.parametrize(
    ("squeue", "first_line"),
    [
        ("53|CANCELLED|None|node1", "SLURM job 53 CANCELLED: cancelled (scancel"),
        ("53|TIMEOUT|TimeLimit|node1", "SLURM job 53 TIMEOUT: hit its time limit"),
        ("53|FAILED|NonZeroExitCode|node1", "SLURM job 53 FAILED: the job failed"),
    ],
)
def test_an_ended_job_error_names_the_state_on_its_first_line(squeue, first_line):
    watcher = _watcher(Cluster(squeue=squeue + "\n"), [0.0])
    _poll(watcher, "53")
    error = ended_job_error(_uncompleted("53", "CANCELLED"), watcher)
    assert isinstance(error, SlurmJobEndedError)
    assert str(error).splitlines()[0].startswith(first_line)
    assert "has not produced any output" in str(error)  # submitit's text (and log) follows


def test_a_lost_job_error_says_nothing_could_read_it():
    clock = [0.0]
    watcher = _watcher(Cluster(), clock, timeout_s=60)
    _poll(watcher, "80")
    clock[0] = 61.0
    _poll(watcher, "80")
    first = str(ended_job_error(_uncompleted("80", LOST_STATE), watcher)).splitlines()[0]
    assert first.startswith("SLURM job 80 LOST: no state from sacct, squeue or scontrol for 1 min")


def test_an_error_naming_no_job_is_left_as_it_is():
    error = UncompletedJobError("something else")
    assert ended_job_error(error, _watcher(Cluster(), [0.0])) is error


def test_install_replaces_submitits_watcher_once(monkeypatch):
    monkeypatch.setattr(SlurmJob, "watcher", SlurmJob.watcher)  # restored after the test
    first = install_watcher(unreadable_timeout_s=120)
    second = install_watcher(unreadable_timeout_s=300)
    assert SlurmJob.watcher is first is second
    assert isinstance(first, ControllerInfoWatcher) and first.unreadable_timeout_s == 300
