"""The one door to a study in the shared storage: the sweeper, every trial's job and liveness
read and write a study only through a `StudyGateway`, so robustness lives here, not at call
sites (as Optuna's storages own their retries and `Study.optimize` its heartbeat).

What it owns:

- opening: `StudyGateway.create` (the sweeper: create or load the study, with the storage's
  heartbeat) and `StudyGateway.for_trial` (a job: load the study and bind to trial n);
  `diffexp.tuning.storage` opens the storage URL itself (passwords, SQLite's busy timeout,
  the schema race several sweepers hit when they create one storage at once);
- the retry policy: every storage call below goes through `retry_on_lock` once, here; no
  caller writes `retry_on_lock(lambda: ...)`;
- heartbeats: Optuna's on an RDB storage (SQLite, PostgreSQL, MySQL), diffexp's trial
  attribute on a journal file, which Optuna 5 gives none (`beat`, `Beater`,
  `StudyGateway.heartbeat`), and which trials missed theirs (`StudyGateway.stale_trials`);
- a trial's end: `record_outcome(trial, TrialOutcome)` writes the study state, the
  `fail_reason` and `trial.json`, whoever ends the trial (`diffexp.tuning.outcome`);
- every use of Optuna's private API (a trial's storage id, a study's storage and id, the RDB
  heartbeat table), so an Optuna upgrade is checked against this one file.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from diffexp.names import FAIL_REASON_ATTR, HEARTBEAT_ATTR, LIVENESS_ATTR, PRUNER_ATTR, RUN_DIR_ATTR
from diffexp.tuning.liveness_policy import DEFAULT_LIVENESS, Liveness
from diffexp.tuning.outcome import (
    TrialOutcome,
    is_job_folder_of,
    job_overrides,
    trial_record,
    write_trial_record,
)
from diffexp.tuning.pruners import build_pruner
from diffexp.tuning.storage import create_storage, retry_on_lock

log = logging.getLogger(__name__)

# `study.ask` on a storage with heartbeats warns that heartbeats are meant for
# `Study.optimize`; here the sweeper and the jobs beat themselves (`Beater`).
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")

NO_PRUNER = {"_target_": "optuna.pruners.NopPruner"}
GRID_STOP = "`Study.stop` is supposed to be invoked"  # GridSampler, grid exhausted

AnyTrial = optuna.Trial | FrozenTrial


def trial_id(trial: AnyTrial) -> int:
    """The storage's id of a trial (Optuna keeps it private; the storage API needs it)."""
    return trial._trial_id


class StudyGateway:
    """One study in its storage; every read and write a sweeper, a job or liveness makes."""

    def __init__(self, study: optuna.Study, storage: BaseStorage | None = None) -> None:
        self.study = study
        self.storage: BaseStorage = storage if storage is not None else study._storage

    # ---- opening ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        url: str,
        study_name: str | None,
        *,
        sampler: optuna.samplers.BaseSampler | None,
        pruner: optuna.pruners.BasePruner,
        directions: Sequence[str],
        liveness: Liveness,
    ) -> StudyGateway:
        """The sweeper's study: created, or loaded when it exists (a re-run continues it)."""
        storage = create_storage(url, **liveness.storage_kwargs())
        study = retry_on_lock(
            lambda: optuna.create_study(
                study_name=study_name,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                directions=cast(list[Literal["minimize", "maximize"]], list(directions)),
                load_if_exists=True,
            )
        )
        return cls(study, storage)

    @classmethod
    def for_trial(cls, url: str, study_name: str, number: int) -> tuple[StudyGateway, optuna.Trial]:
        """A job's view: the study with the pruner its sweeper stored, and trial `number`."""
        storage = create_storage(url)
        study_id = retry_on_lock(lambda: storage.get_study_id_from_name(study_name))
        attrs = retry_on_lock(lambda: storage.get_study_user_attrs(study_id))
        pruner = build_pruner(attrs.get(PRUNER_ATTR) or NO_PRUNER)
        # The job never samples: a RandomSampler keeps Trial construction cheap for any sampler.
        study = optuna.load_study(
            study_name=study_name,
            storage=storage,
            pruner=pruner,
            sampler=optuna.samplers.RandomSampler(),
        )
        found = retry_on_lock(
            lambda: storage.get_trial_id_from_study_id_trial_number(study_id, number)
        )
        return cls(study, storage), optuna.Trial(study, found)

    # ---- reads ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.study.study_name

    def frozen(self, trial: AnyTrial) -> FrozenTrial:
        """The trial as the storage holds it now."""
        return retry_on_lock(lambda: self.storage.get_trial(trial_id(trial)))

    def trials(self, states: Iterable[TrialState] | None = None) -> list[FrozenTrial]:
        """The study's trials (shared, not copied: read them, never change them)."""
        chosen = tuple(states) if states is not None else None
        return retry_on_lock(lambda: self.study.get_trials(deepcopy=False, states=chosen))

    def user_attrs(self) -> dict[str, Any]:
        return retry_on_lock(lambda: self.study.user_attrs)

    # ---- writes -----------------------------------------------------------------------

    def set_user_attr(self, key: str, value: Any) -> None:
        retry_on_lock(lambda: self.study.set_user_attr(key, value))

    def set_trial_attr(self, trial: AnyTrial, key: str, value: Any) -> None:
        retry_on_lock(lambda: self.storage.set_trial_user_attr(trial_id(trial), key, value))

    def ask(self) -> optuna.Trial:
        return retry_on_lock(self.study.ask)

    def report(self, trial: optuna.Trial, value: float, step: int) -> None:
        retry_on_lock(lambda: trial.report(value, step))

    def should_prune(self, trial: optuna.Trial) -> bool:
        return bool(retry_on_lock(trial.should_prune))

    def add_trial(self, trial: FrozenTrial) -> None:
        """Add a made trial (a WAITING retry of a failed one)."""
        retry_on_lock(lambda: self.study.add_trial(trial))

    # ---- a trial's end ----------------------------------------------------------------

    def record_outcome(self, trial: AnyTrial, outcome: TrialOutcome) -> FrozenTrial | None:
        """Write how `trial` ended: its state (and `fail_reason`) in the study, then
        `trial.json` in its job folder (`outcome.run_dir`, else the one its job recorded).

        FAIL is written only while the trial runs: None when it had ended already (another
        sweeper, liveness or its own job was first), and nothing is written then. COMPLETE
        and PRUNED are told as `Study.tell` does (the sampler sees them); telling a trial
        that ended already raises, as it does there."""
        if outcome.state == "FAIL":
            if not self._fail(trial, outcome.fail_reason or "unknown"):
                return None
        elif outcome.state == "PRUNED":
            self._tell(trial.number, state=TrialState.PRUNED)
        else:
            self._tell(trial.number, values=outcome.values)
        frozen = self.frozen(trial)
        self._write_record(frozen, outcome)
        return frozen

    def _fail(self, trial: AnyTrial, reason: str) -> bool:
        try:
            self.set_trial_attr(trial, FAIL_REASON_ATTR, reason)
            return bool(
                retry_on_lock(
                    lambda: self.storage.set_trial_state_values(trial_id(trial), TrialState.FAIL)
                )
            )
        except UpdateFinishedTrialError:
            return False

    def _tell(self, number: int, **kwargs: Any) -> None:
        """`study.tell`; the GridSampler stopping an exhausted study is not an error here:
        a sweep launches no more than the grid holds (`n_trials` is capped to it)."""
        try:
            retry_on_lock(lambda: self.study.tell(number, **kwargs))
        except RuntimeError as exc:
            if GRID_STOP not in str(exc):
                raise
            log.info("the grid is exhausted: every grid point has run once")

    def _write_record(self, frozen: FrozenTrial, outcome: TrialOutcome) -> None:
        """trial.json where the job's folder is known; a folder that is gone (or a disk
        that refuses) loses only the record of a trial whose job could not write it."""
        run_dir = outcome.run_dir
        if run_dir is None:
            recorded = frozen.user_attrs.get(RUN_DIR_ATTR)
            if not recorded or not Path(recorded).is_dir():
                return
            run_dir = Path(recorded)
            if not is_job_folder_of(run_dir, frozen.number, self.name):
                log.warning(
                    "trial %d: its recorded folder %s is not its job folder; no trial.json "
                    "written there",
                    frozen.number,
                    run_dir,
                )
                return
        record = trial_record(
            outcome,
            trial_number=frozen.number,
            study_name=self.name,
            params=frozen.params,
            stored=frozen.intermediate_values,
            overrides=job_overrides(run_dir),
        )
        if outcome.run_dir is not None:  # the job's own record: its disk errors are its own
            write_trial_record(run_dir, record)
            return
        with contextlib.suppress(OSError):
            write_trial_record(run_dir, record)

    # ---- heartbeats -------------------------------------------------------------------

    def beater(
        self,
        interval: float,
        trial_ids: Iterable[int] = (),
        on_tick: Callable[[], None] | None = None,
        name: str = "heartbeat",
    ) -> Beater:
        return Beater(self.storage, interval, trial_ids, on_tick=on_tick, name=name)

    @contextlib.contextmanager
    def heartbeat(self, trial: AnyTrial) -> Iterator[None]:
        """Beat for `trial` while the block runs, at the interval its sweeper chose."""
        attr = self.user_attrs().get(LIVENESS_ATTR) or {}
        interval = attr.get("interval", DEFAULT_LIVENESS.interval)
        beater = self.beater(interval, [trial_id(trial)], name=f"heartbeat-{trial_id(trial)}")
        beater.start()
        try:
            yield
        finally:
            beater.stop()

    def stale_trials(self, grace: float) -> list[FrozenTrial]:
        """RUNNING trials whose last beat is older than `grace` s; a RUNNING trial that never
        beat (started by a sweep without heartbeats) counts from its start."""
        running = self.trials(states=(TrialState.RUNNING,))
        if not running:
            return []
        ids = [trial_id(t) for t in running]
        storage = self.storage
        if isinstance(storage, RDBStorage) and storage.heartbeat_interval is not None:
            stale_ids = set(storage._get_stale_trial_ids(self.study._study_id))
            beating = _rdb_trials_with_beats(storage, ids)
        else:
            now = time.time()
            stale_ids = {
                trial_id(t)
                for t in running
                if HEARTBEAT_ATTR in t.system_attrs and now - t.system_attrs[HEARTBEAT_ATTR] > grace
            }
            beating = {trial_id(t) for t in running if HEARTBEAT_ATTR in t.system_attrs}
        stale_ids |= set(ids) - beating
        # A trial younger than the grace period cannot have missed it (a retry carries its
        # original's last beat until its first own one).
        return [t for t in running if trial_id(t) in stale_ids and _age_s(t.datetime_start) > grace]


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


def beat(storage: BaseStorage, trial_id: int) -> None:
    """One heartbeat of a trial: Optuna's on an RDB storage, diffexp's attribute elsewhere."""
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

    def add(self, trial: AnyTrial | int) -> None:
        """Beat for `trial` from now on, starting with one beat at once."""
        number = trial if isinstance(trial, int) else trial_id(trial)
        with self._lock:
            self._ids.add(number)
        self._beat_one(number)

    def discard(self, trial: AnyTrial | int) -> None:
        number = trial if isinstance(trial, int) else trial_id(trial)
        with self._lock:
            self._ids.discard(number)

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
        for trial_id_ in ids:
            self._beat_one(trial_id_)

    def _beat_one(self, trial_id_: int) -> None:
        try:
            beat(self._storage, trial_id_)
        except UpdateFinishedTrialError:
            self.discard(trial_id_)  # finished: nothing to keep alive
        except Exception as exc:
            log.warning("heartbeat of trial id %d not recorded: %s", trial_id_, exc)
