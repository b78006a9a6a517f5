"""Liveness decides that a trial is dead, not its state: a RUNNING trial may belong to a job
that trains on while another sweeper starts, or to a sweeper that was restarted.

Every running trial beats: its job beats while it trains (`TrialJob`), and the sweeper that
launched it beats for it while it waits on the launcher (a SLURM job pending in the queue or
requeued has no process to beat yet). A trial whose last beat is older than the grace period
is failed with `fail_reason` "heartbeat lost: …" by whichever sweeper notices first, gets its
`trial.json` (from the job folder the job recorded in user attr `run_dir`), and is optionally
retried (its parameters enqueued as a new trial, in the format of Optuna's
`RetryFailedTrialCallback`).
A trial that still beats is never touched, whoever started it.

Optuna 5 implements heartbeats for RDB storages only (SQLite, PostgreSQL, MySQL: a heartbeat
table, stale detection against the database's clock), so those use it. A journal file has no
heartbeat in Optuna 5; the same idea is a trial system attribute holding the beat's Unix time,
compared with this machine's clock (keep the nodes' clocks in sync, as NFS needs anyway).
The beats and the stale check are the study gateway's (`diffexp.tuning.study`); this module
is the policy: who is dead, what is written for it (`record_outcome`), whether it is re-run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from diffexp.names import FAIL_REASON_ATTR, HEARTBEAT_ATTR, LIVENESS_ATTR, RUN_DIR_ATTR
from diffexp.tuning.liveness_policy import Liveness
from diffexp.tuning.outcome import TrialOutcome
from diffexp.tuning.study import Beater, StudyGateway, beat

__all__ = [
    "HEARTBEAT_ATTR",
    "HEARTBEAT_LOST",
    "LIVENESS_ATTR",
    "Beater",
    "Liveness",
    "beat",
    "fail_stale_trials",
    "retried_numbers",
    "retry",
    "stale_trials",
]

log = logging.getLogger(__name__)

HEARTBEAT_LOST = "heartbeat lost"
RETRY_HISTORY = "retry_history"  # system attr RetryFailedTrialCallback sets on a retry


def stale_trials(study: optuna.Study, storage: BaseStorage, grace: float) -> list[FrozenTrial]:
    """RUNNING trials whose last beat is older than `grace` s (`StudyGateway.stale_trials`)."""
    return StudyGateway(study, storage).stale_trials(grace)


def fail_stale_trials(
    study: optuna.Study | StudyGateway, storage: BaseStorage | None, liveness: Liveness
) -> list[int]:
    """Fail every trial whose heartbeat is lost; write its trial.json; retry it if configured.
    Returns the numbers failed here (another sweeper may fail some first: not counted)."""
    gateway = study if isinstance(study, StudyGateway) else StudyGateway(study, storage)
    failed = []
    for trial in gateway.stale_trials(liveness.grace):
        reason = (
            f"{HEARTBEAT_LOST}: no heartbeat for more than {liveness.grace} s (its job died, was "
            "cancelled or lost its node, and no sweeper was waiting on it)"
        )
        frozen = gateway.record_outcome(trial, TrialOutcome("FAIL", fail_reason=reason))
        if frozen is None:
            continue  # it ended (or another sweeper failed it) since we looked
        failed.append(frozen.number)
        log.warning("trial %d FAIL: %s", frozen.number, reason)
        if liveness.retries and retry(gateway, frozen, liveness.retries):
            log.info("trial %d: retried with the same parameters", frozen.number)
    return failed


def retry(gateway: StudyGateway, failed: FrozenTrial, max_retry: int) -> bool:
    """Enqueue `failed`'s parameters as a new trial, as Optuna's `RetryFailedTrialCallback`
    does (the same `failed_trial`/`retry_history` system attrs, so its helpers read them), but
    without the dead trial's own records: its fail_reason, job folder and last beat."""
    history = [*failed.system_attrs.get(RETRY_HISTORY, []), failed.number]
    if len(history) > max_retry:
        return False
    system_attrs = {
        **{k: v for k, v in failed.system_attrs.items() if k != HEARTBEAT_ATTR},
        "failed_trial": failed.system_attrs.get("failed_trial", failed.number),
        RETRY_HISTORY: history,
    }
    user_attrs = {
        k: v for k, v in failed.user_attrs.items() if k not in (FAIL_REASON_ATTR, RUN_DIR_ATTR)
    }
    gateway.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=failed.params,
            distributions=failed.distributions,
            user_attrs=user_attrs,
            system_attrs=system_attrs,
        )
    )
    return True


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of FAIL trials that a retry replaced (they no longer count toward n_trials)."""
    return {int(n) for t in trials for n in t.system_attrs.get(RETRY_HISTORY, ())}
