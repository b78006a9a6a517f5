"""diffexp's Optuna sweep: the official search space and config, asynchronous slots, pruning.

The official `OptunaSweeperImpl` asks `n_jobs` trials, launches them as one batch and waits
for the slowest. Here each of `n_jobs` slots is a thread that asks one trial, launches it
alone (`launcher.launch([overrides])`, which the submitit launchers support from several
threads) and asks the next the moment it ends, so no trial waits for a batch. Each trial's
overrides carry `tuning.study_name`, `tuning.storage` and `tuning.trial_number`, so the job
(`diffexp.tuning.trial.job.TrialJob`) reports every epoch to its trial and can be pruned.
An app without a `tuning` node (any Hydra app) gets the same three as environment variables
instead (`hydra.job.env_set`), read by `diffexp.tuning.sweeper.app.trial_reporter`.

A drop-in for the official sweeper: `storage: null` puts the study in a SQLite file in the
sweep folder (trial jobs need a storage they can open); several directions take a sequence
of values per trial, with pruning off; an exhausted grid ends the sweep cleanly; an empty
search space runs the fixed config.

The job records its own final state; the sweeper only finishes trials a job could not: a
task that returned a value without telling the storage (COMPLETE), or a job that died or
raised before it could (FAIL, with the launcher's reason in user attr `fail_reason`).

The search space parsing, sampler handling and trial configuration are the official ones,
reused by subclassing (hydra-optuna-sweeper is pinned to 1.4.0rc3); each search parameter is
checked first (`diffexp.tuning.sweeper.search_space`). Errors a user can fix (a bad search space, an
unreachable storage, too many failed trials) are UserErrors with one line, which the plugin
prints as `diffexp: error:` without Hydra's traceback.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import optuna
from hydra.core.utils import JobStatus
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from omegaconf import DictConfig, OmegaConf
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from diffexp.config import hydra_value, override_key
from diffexp.errors import UserError
from diffexp.names import (
    FAIL_REASON_ATTR,
    FIXED_FROM_ATTR,
    PRUNER_ATTR,
    SWEEP_SUMMARY_FILE,
    TUNING_STORAGE,
    TUNING_STUDY_NAME,
    TUNING_TRIAL_NUMBER,
)
from diffexp.tuning.analysis.best_trial import best_trial_overrides
from diffexp.tuning.pruners import build_pruner, pruner_config_to_dict
from diffexp.tuning.storage import create_storage, retry_on_lock, shown_url, storage_kind
from diffexp.tuning.sweeper.app import TRIAL_ENV
from diffexp.tuning.sweeper.resources import launcher_kind, set_trial_threads, slots_for
from diffexp.tuning.sweeper.search_space import distributions_from_overrides, param_lines
from diffexp.tuning.sweeper.summary import build_summary, format_summary, write_results

log = logging.getLogger(__name__)

STALE_REASON = "left RUNNING by a sweep that stopped before the trial ended"
DEFAULT_STUDY_FILE = "optuna_study.db"  # in the sweep folder, when hydra.sweeper.storage is null
NO_PRUNER = {"_target_": "optuna.pruners.NopPruner"}
_GRID_STOP = "`Study.stop` is supposed to be invoked"  # GridSampler, grid exhausted


class SweepStoppedError(UserError, ValueError):
    """More trials failed than `max_failure_rate` allows; the sweep launched no more. The
    cause is in the trials (their fail_reason), so the message names the most common one."""


@dataclass
class _SweepState:
    """Shared between slot threads; every access holds `lock`."""

    to_run: int
    allowed_failures: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    launched: list[int] = field(default_factory=list)
    failures: int = 0
    finished: int = 0
    stopped: bool = False


class AsyncOptunaSweeperImpl(OptunaSweeperImpl):
    """The sweep logic behind `hydra_plugins.diffexp_sweeper.sweeper.DiffexpOptunaSweeper`."""

    def __init__(
        self,
        *,
        pruner: DictConfig | dict[str, Any] | None,
        cap_n_jobs_to_cores: bool,
        fix_best_of: str | None,
        **official: Any,
    ) -> None:
        super().__init__(**official)
        self.pruner_config = pruner_config_to_dict(pruner)
        self.pruner = build_pruner(self.pruner_config)
        self.cap_n_jobs_to_cores = cap_n_jobs_to_cores
        self.fix_best_of = fix_best_of

    # ---- search space -------------------------------------------------------------------

    def _parse_sweeper_params_config(self) -> list[str]:
        return param_lines(self.params)

    def _search_space(self, arguments: list[str]) -> tuple[dict, dict, list[str]]:
        self._process_searchspace_config()
        params_conf = self._parse_sweeper_params_config() + list(arguments)
        params_conf = self._best_of_overrides(params_conf) + params_conf
        distributions, fixed_params, fixed_overrides = distributions_from_overrides(params_conf)
        for name in fixed_params:
            distributions.pop(name, None)
        if isinstance(self.sampler, functools.partial) and (
            self.sampler.func == optuna.samplers.GridSampler
        ):
            grid = {k: self._to_grid_sampler_choices(d) for k, d in distributions.items()}
            self.sampler = self.sampler(grid)
            n_grid = 1
            for choices in grid.values():
                n_grid *= len(choices)
            self.n_trials = min(self.n_trials, n_grid)
            log.info("n_trials=%d: the grid has %d points", self.n_trials, n_grid)
        if not distributions and self.custom_search_space_extender is None:
            log.info(
                "empty search space (no interval/choice/range in hydra.sweeper.params): every "
                "trial runs the fixed config"
            )
        return distributions, fixed_params, fixed_overrides

    def _best_of_overrides(self, params_conf: list[str]) -> list[str]:
        """Staged search: the best trial of study `fix_best_of`, minus keys searched here."""
        if not self.fix_best_of:
            return []
        overrides, provenance = best_trial_overrides(self.fix_best_of, str(self.storage))
        taken = {override_key(item) for item in params_conf}
        fixed = {k: v for k, v in overrides.items() if k not in taken}
        log.info(
            "fixed from study '%s' trial %s: %s",
            self.fix_best_of,
            provenance.get("trial_number"),
            fixed,
        )
        self._fixed_provenance = {**provenance, "overrides": fixed}
        return [f"{key}={value}" for key, value in fixed.items()]

    # ---- study --------------------------------------------------------------------------

    def _storage_url(self) -> str:
        """The storage URL, absolute; `storage: null` (the official default, in memory) becomes
        a SQLite file in the sweep folder, which every trial job can open."""
        if self.storage:
            return _absolute_storage_url(str(self.storage))
        path = Path(str(self.config.hydra.sweep.dir)).resolve() / DEFAULT_STUDY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info(
            "hydra.sweeper.storage is null: the study is kept in %s (trial jobs report to it)",
            path,
        )
        return f"sqlite:///{path}"

    def _open_study(self) -> tuple[optuna.Study, BaseStorage]:
        storage = create_storage(str(self.storage))
        directions = self._get_directions()
        if len(directions) > 1:
            if self.pruner_config.get("_target_") != NO_PRUNER["_target_"]:
                log.info(
                    "pruning is off: Optuna defines no pruning for %d objectives", len(directions)
                )
            self.pruner_config = dict(NO_PRUNER)
            self.pruner = build_pruner(self.pruner_config)
        study = retry_on_lock(
            lambda: optuna.create_study(
                study_name=self.study_name,
                storage=storage,
                sampler=self.sampler,
                pruner=self.pruner,
                directions=cast(list[Literal["minimize", "maximize"]], directions),
                load_if_exists=True,
            )
        )
        study.set_user_attr(PRUNER_ATTR, self.pruner_config)
        if getattr(self, "_fixed_provenance", None):
            study.set_user_attr(FIXED_FROM_ATTR, self._fixed_provenance)
        self._fail_stale_trials(study, storage)
        return study, storage

    @staticmethod
    def _fail_stale_trials(study: optuna.Study, storage: BaseStorage) -> None:
        """A trial still RUNNING when a sweep starts belongs to a sweep that died: FAIL it."""
        for trial in study.get_trials(
            deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)
        ):
            storage.set_trial_user_attr(trial._trial_id, FAIL_REASON_ATTR, STALE_REASON)
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            log.warning("trial %d was %s", trial.number, STALE_REASON)

    # ---- sweep --------------------------------------------------------------------------

    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None and self.launcher is not None
        self.storage = self._storage_url()
        self._binds_by_config = OmegaConf.select(self.config, "tuning") is not None
        if not self._binds_by_config:
            log.info(
                "the app's config has no `tuning` node: trials learn their trial from %s; "
                "they can be pruned only if the app reports (diffexp.tuning.sweeper.app."
                "trial_reporter)",
                "/".join(TRIAL_ENV),
            )
        self._silent_warned = False
        space = self._search_space(arguments)
        study, storage = self._open_study()
        finished = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        to_run = max(0, self.n_trials - finished)
        log.info(
            "study '%s' in %s: %d finished trials, %d to run (n_trials=%d), pruner %s",
            study.study_name,
            shown_url(str(self.storage)),
            finished,
            to_run,
            self.n_trials,
            type(self.pruner).__name__,
        )
        state = _SweepState(to_run=to_run, allowed_failures=self.max_failure_rate * to_run)
        if to_run:
            kind = launcher_kind(self.launcher)
            slots = min(slots_for(self.n_jobs, kind, self.cap_n_jobs_to_cores), to_run)
            set_trial_threads(slots, kind)
            self._run_slots(study, storage, space, state, slots)
        summary = build_summary(study, shown_url(str(self.storage)), state.launched)
        write_results(Path(str(self.config.hydra.sweep.dir)), study, summary)
        log_best(study)
        text = format_summary(summary)
        log.info("sweep summary written to %s/%s", self.config.hydra.sweep.dir, SWEEP_SUMMARY_FILE)
        print(text, flush=True)
        if state.stopped or (state.launched and state.failures == len(state.launched)):
            raise SweepStoppedError(self._stopped_message(summary, state, to_run))

    def _stopped_message(self, summary: dict, state: _SweepState, to_run: int) -> str:
        reasons = Counter(
            (str(reason).strip().splitlines() or ["unknown"])[0]
            for reason in summary["failed_trials"].values()
        )
        reason, count = reasons.most_common(1)[0] if reasons else ("unknown", 0)
        why = (
            "every trial failed"
            if state.failures <= state.allowed_failures
            else f"more than hydra.sweeper.max_failure_rate={self.max_failure_rate} of {to_run} "
            "allows"
        )
        return (
            f"sweep stopped: {state.failures} of {len(state.launched)} trials failed, {why}; most "
            f"common reason ({count}x): {reason}; fix it and re-run the same command to continue "
            f"the study (all reasons: {self.config.hydra.sweep.dir}/{SWEEP_SUMMARY_FILE})"
        )

    def _run_slots(self, study, storage, space, state: _SweepState, slots: int) -> None:
        if slots == 1:
            self._slot(study, storage, space, state)
            return
        threads = [
            threading.Thread(
                target=self._slot,
                args=(study, storage, space, state),
                name=f"trial-slot-{i}",
                daemon=True,
            )
            for i in range(slots)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _slot(self, study, storage, space, state: _SweepState) -> None:
        """One slot: ask a trial, run it, record it, repeat until the sweep has enough."""
        while (item := self._next_trial(study, space, state)) is not None:
            trial, overrides = item
            try:
                failed = self._run_trial(study, storage, trial, overrides)
            except Exception as exc:  # a storage error here must not silently end the slot
                log.exception("trial %d: the sweeper could not record it", trial.number)
                failed = True
                with contextlib.suppress(Exception):
                    self._finish_for_job(study, storage, trial, None, exc)
            with state.lock:
                state.failures += failed
                state.finished += 1
                log.info(
                    "progress: %d of %d trials of this sweep finished (%d failed)",
                    state.finished,
                    state.to_run,
                    state.failures,
                )
                if state.failures > state.allowed_failures and not state.stopped:
                    state.stopped = True
                    log.error(
                        "%d trials failed (max_failure_rate=%s): launching no more",
                        state.failures,
                        self.max_failure_rate,
                    )

    def _next_trial(self, study, space, state: _SweepState):
        with state.lock:  # study.ask and the sampler are not thread-safe
            if state.stopped or len(state.launched) >= state.to_run:
                return None
            trial = retry_on_lock(study.ask)
            state.launched.append(trial.number)
            self._configure_trials([trial], *space)  # official: suggest + fixed user attrs
            overrides = self._trial_overrides(trial, *space)
        overrides += [
            f"{TUNING_STUDY_NAME}={_quoted(study.study_name)}",
            f"{TUNING_STORAGE}={_quoted(str(self.storage))}",
            f"{TUNING_TRIAL_NUMBER}={trial.number}",
        ]
        if not self._binds_by_config:  # a foreign app: the same three through its environment
            values = (study.study_name, str(self.storage), str(trial.number))
            overrides = overrides[:-3] + [
                f"++hydra.job.env_set.{name}={_quoted(value)}"
                for name, value in zip(TRIAL_ENV, values, strict=True)
            ]
        return trial, overrides

    @staticmethod
    def _trial_overrides(trial, distributions, fixed_params, fixed_overrides) -> list[str]:
        """Like the official overrides, but each value rendered so Hydra parses it back."""
        searched = [f"{k}={hydra_value(v)}" for k, v in trial.params.items()]
        fixed = [f"{k}={v}" for k, v in fixed_params.items()]  # already override strings
        return searched + fixed + list(fixed_overrides)

    def _run_trial(self, study, storage: BaseStorage, trial, overrides: list[str]) -> bool:
        """Launch one trial; finish it in the storage if its job could not. True if FAIL."""
        error: BaseException | None = None
        value: Any = None
        try:
            result = self.launcher.launch([overrides], initial_job_idx=trial.number)[0]
            if result.status == JobStatus.COMPLETED:
                value = result.return_value
            else:
                error = result._return_value  # the exception the task raised
        except Exception as exc:  # the job's process died or could not be started
            error = exc
        frozen = retry_on_lock(lambda: storage.get_trial(trial._trial_id))
        if not frozen.state.is_finished():
            frozen = self._finish_for_job(study, storage, trial, value, error)
        log.info("trial %d %s values=%s", trial.number, frozen.state.name, frozen.values)
        self._warn_if_silent(frozen)
        return frozen.state == TrialState.FAIL

    def _warn_if_silent(self, frozen) -> None:
        """Say once that a pruner is set but the app's trials report nothing to it."""
        if (
            self._binds_by_config
            or self._silent_warned
            or frozen.state != TrialState.COMPLETE
            or frozen.intermediate_values
            or self.pruner_config.get("_target_") == NO_PRUNER["_target_"]
        ):
            return
        self._silent_warned = True
        log.warning(
            "trial %d reported no intermediate value: the app does not call "
            "diffexp.tuning.sweeper.app.trial_reporter(), so no trial is pruned",
            frozen.number,
        )

    def _finish_for_job(self, study, storage, trial, value, error):
        if _is_pruned(error):  # an app's reporter raised TrialPruned out of the task
            self._tell(study, trial.number, state=TrialState.PRUNED)
            return storage.get_trial(trial._trial_id)
        if error is None:
            try:
                values = objective_values(value, len(study.directions))
                self._tell(study, trial.number, values=values)
                return storage.get_trial(trial._trial_id)
            except (TypeError, ValueError) as exc:
                error = exc
        reason = _reason(error)
        retry_on_lock(
            lambda: storage.set_trial_user_attr(trial._trial_id, FAIL_REASON_ATTR, reason)
        )
        self._tell(study, trial.number, state=TrialState.FAIL, skip_if_finished=True)
        log.warning("trial %d failed: %s", trial.number, reason)
        return storage.get_trial(trial._trial_id)

    @staticmethod
    def _tell(study: optuna.Study, number: int, **kwargs: Any) -> None:
        """`study.tell`; the GridSampler stopping an exhausted study is not an error here:
        the sweep launches no more than the grid holds (`n_trials` is capped to it)."""
        try:
            retry_on_lock(lambda: study.tell(number, **kwargs))
        except RuntimeError as exc:
            if _GRID_STOP not in str(exc):
                raise
            log.info("the grid is exhausted: every grid point has run once")


def objective_values(value: Any, n_objectives: int) -> list[float]:
    """The job's return value as one float per objective (direction); ValueError says why not."""
    if n_objectives == 1:
        try:
            return [float(value)]
        except (TypeError, ValueError):
            raise ValueError(f"return value must be float-castable, got {value!r}") from None
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(
            f"return value must be a sequence of {n_objectives} float-castable values (one per "
            f"direction), got {value!r}"
        ) from None
    if len(values) != n_objectives:
        raise ValueError(
            f"return value has {len(values)} values for {n_objectives} directions: {value!r}"
        )
    return values


def log_best(study: optuna.Study) -> None:
    """The official sweeper's closing log lines (scripts grep them)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return
    if len(study.directions) == 1:
        log.info("Best parameters: %s", study.best_trial.params)
        log.info("Best value: %s", study.best_trial.value)
        return
    log.info("Number of Pareto solutions: %d", len(study.best_trials))
    for trial in study.best_trials:
        log.info("    Values: %s, Params: %s", trial.values, trial.params)


def _is_pruned(error: BaseException | None) -> bool:
    return isinstance(error, optuna.TrialPruned) or type(error).__name__ == "TrialPruned"


def _reason(error: BaseException | None) -> str:
    name = type(error).__name__
    text = (str(error).strip() or name).splitlines()
    first = next((line for line in text if line.strip()), name)
    if "UncompletedJobError" in name or "FailedJobError" in name:
        return f"process died: {name}: {first}"
    return f"{name}: {first}"


def _quoted(value: str) -> str:
    """Single-quote a value for Hydra's override parser (URLs contain ':' and '/')."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _absolute_storage_url(url: str) -> str:
    """Make a relative SQLite path or journal path absolute, so every job finds the same file."""
    kind = storage_kind(url)
    if kind == "journal":
        return str(Path(url).resolve())
    if kind == "sqlite" and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            return "sqlite:///" + str(Path(path).resolve())
    return url
