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
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from diffexp.names import FAIL_REASON_ATTR, HEARTBEAT_ATTR, RUN_DIR_ATTR, TRIAL_FILE
from diffexp.tuning.liveness_policy import Liveness
from diffexp.tuning.storage import retry_on_lock
from diffexp.tuning.trial.record import trial_record, write_json_atomic

log = logging.getLogger(__name__)

HEARTBEAT_LOST = "heartbeat lost"
RETRY_HISTORY = "retry_history"  # system attr RetryFailedTrialCallback sets on a retry


def beat(storage: BaseStorage, trial_id: int) -> None:
    """One heartbeat of a trial."""
    if isinstance(storage, RDBStorage):
        retry_on_lock(lambda: storage.record_heartbeat(trial_id))
    else:
        retry_on_lock(lambda: storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time()))


class Beater:
    """A daemon thread that beats for a set of trials every `interval` s and runs `on_tick`
    after each round. A storage error is logged, never raised: a database that hiccups must
    not end a training; the grace period covers a few missed beats."""

    def __init__(
        self,
        storage: BaseStorage,
        interval: float,
        trial_ids: Iterable[int] = (),
        on_tick: Callable[[], None] | None = None,
        name: str = "heartbeat",
    ) -> None:
        self._storage = storage
        self._interval = float(interval)
        self._ids = set(trial_ids)
        self._on_tick = on_tick
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Beater:
        self._beat_all()
        self._thread.start()
        return self

    def add(self, trial_id: int) -> None:
        with self._lock:
            self._ids.add(trial_id)
        self._beat_one(trial_id)

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self._ids.discard(trial_id)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._interval + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._beat_all()
            if self._on_tick is not None:
                try:
                    self._on_tick()
                except Exception:  # the next tick tries again
                    log.exception("liveness check failed")

    def _beat_all(self) -> None:
        with self._lock:
            ids = sorted(self._ids)
        for trial_id in ids:
            self._beat_one(trial_id)

    def _beat_one(self, trial_id: int) -> None:
        try:
            beat(self._storage, trial_id)
        except UpdateFinishedTrialError:
            self.discard(trial_id)  # finished: nothing to keep alive
        except Exception as exc:
            log.warning("heartbeat of trial id %d not recorded: %s", trial_id, exc)


def stale_trials(study: optuna.Study, storage: BaseStorage, grace: float) -> list[FrozenTrial]:
    """RUNNING trials whose last beat is older than `grace` s; a RUNNING trial that never beat
    (started by a sweep without heartbeats) counts from its start."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return []
    now = time.time()
    if isinstance(storage, RDBStorage) and storage.heartbeat_interval is not None:
        stale_ids = set(storage._get_stale_trial_ids(study._study_id))
        beating = _rdb_trials_with_beats(storage, [t._trial_id for t in running])
    else:
        stale_ids = {
            t._trial_id
            for t in running
            if HEARTBEAT_ATTR in t.system_attrs and now - t.system_attrs[HEARTBEAT_ATTR] > grace
        }
        beating = {t._trial_id for t in running if HEARTBEAT_ATTR in t.system_attrs}
    for trial in running:
        if trial._trial_id not in beating:
            stale_ids.add(trial._trial_id)
    # A trial younger than the grace period cannot have missed it (a retry carries its
    # original's last beat until its first own one).
    return [t for t in running if t._trial_id in stale_ids and _age_s(t.datetime_start) > grace]


def _rdb_trials_with_beats(storage: RDBStorage, trial_ids: list[int]) -> set[int]:
    from optuna.storages._rdb import models

    session = storage.scoped_session()
    try:
        rows = (
            session.query(models.TrialHeartbeatModel.trial_id)
            .filter(models.TrialHeartbeatModel.trial_id.in_(trial_ids))
            .all()
        )
        return {row[0] for row in rows}
    finally:
        session.close()


def _age_s(started: datetime | None) -> float:
    return 0.0 if started is None else (datetime.now() - started).total_seconds()


def fail_stale_trials(study: optuna.Study, storage: BaseStorage, liveness: Liveness) -> list[int]:
    """Fail every trial whose heartbeat is lost; write its trial.json; retry it if configured.
    Returns the numbers failed here (another sweeper may fail some first: not counted)."""
    failed = []
    for trial in stale_trials(study, storage, liveness.grace):
        reason = (
            f"{HEARTBEAT_LOST}: no heartbeat for more than {liveness.grace} s (its job died, was "
            "cancelled or lost its node, and no sweeper was waiting on it)"
        )
        if not _fail(storage, trial._trial_id, reason):
            continue  # it ended (or another sweeper failed it) since we looked
        frozen = storage.get_trial(trial._trial_id)
        failed.append(frozen.number)
        log.warning("trial %d FAIL: %s", frozen.number, reason)
        with contextlib.suppress(OSError):
            write_lost_trial_record(study.study_name, frozen)
        if liveness.retries and retry(study, frozen, liveness.retries):
            log.info("trial %d: retried with the same parameters", frozen.number)
    return failed


def retry(study: optuna.Study, failed: FrozenTrial, max_retry: int) -> bool:
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
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=failed.params,
            distributions=failed.distributions,
            user_attrs=user_attrs,
            system_attrs=system_attrs,
        )
    )
    return True


def _fail(storage: BaseStorage, trial_id: int, reason: str) -> bool:
    try:
        retry_on_lock(lambda: storage.set_trial_user_attr(trial_id, FAIL_REASON_ATTR, reason))
        return bool(
            retry_on_lock(lambda: storage.set_trial_state_values(trial_id, TrialState.FAIL))
        )
    except UpdateFinishedTrialError:
        return False


def write_lost_trial_record(study_name: str, frozen: FrozenTrial) -> None:
    """trial.json for a trial whose job could not write it, in the folder its job recorded."""
    run_dir = frozen.user_attrs.get(RUN_DIR_ATTR)
    if not run_dir or not Path(run_dir).is_dir():
        return
    values = frozen.intermediate_values
    record = trial_record(
        trial_number=frozen.number,
        study_name=study_name,
        state=frozen.state.name,
        hyperparameters=_job_overrides(Path(run_dir)),
        params=dict(frozen.params),
        results={"best_val_loss": min(values.values()) if values else None},
        intermediate_values=dict(values),
        fail_reason=frozen.user_attrs.get(FAIL_REASON_ATTR),
    )
    write_json_atomic(Path(run_dir) / TRIAL_FILE, record)


def _job_overrides(run_dir: Path) -> list[str]:
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    return [str(item) for item in OmegaConf.load(path)]


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of FAIL trials that a retry replaced (they no longer count toward n_trials)."""
    return {int(n) for t in trials for n in t.system_attrs.get(RETRY_HISTORY, ())}
