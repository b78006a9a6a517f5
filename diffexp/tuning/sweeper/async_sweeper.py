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

Several sweepers may share one study (several submit nodes, a sweeper restarted while its
jobs run). Liveness, not state, says a trial is dead (`diffexp.tuning.liveness`): jobs beat,
this sweeper beats for the trials it waits on, and a trial silent for longer than
`grace_period` is FAIL "heartbeat lost" (retried if `retry_failed_trials`). Before each new
trial a sweeper re-counts the study under a lock all its sweepers share
(`diffexp.tuning.study_lock`), so the study ends with exactly `n_trials` counted trials, and
it waits for trials still running elsewhere before it reports. Each sweeper samples from its
own seed stream (`diffexp.tuning.sweeper.sampler_seed`). Trials get the storage URL without
its password; the password travels in the environment (`diffexp.tuning.storage`).

The sweep reads as the official `_impl.py`'s: a plan computed once (`plan`: the storage URL,
the search space, the seed, the slots; `diffexp.tuning.sweeper.plan`), then each slot loops
ask, launch, tell (`_slot`). Every read and write of the study goes through the study gateway
(`diffexp.tuning.study`), which retries, beats and records a trial's end. The search space
parsing, sampler handling and trial configuration are the official ones, reused by
subclassing (hydra-optuna-sweeper is pinned to 1.4.0rc3); each search parameter is checked
first (`diffexp.tuning.sweeper.search_space`). Errors a user can fix (a bad search space, an
unreachable storage, too many failed trials) are UserErrors with one line, which the plugin
prints as `diffexp: error:` without Hydra's traceback.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobStatus
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from diffexp.config import hydra_value, override_key
from diffexp.errors import UserError, first_line
from diffexp.names import (
    FIXED_FROM_ATTR,
    LIVENESS_ATTR,
    PRUNER_ATTR,
    SEED_ATTR,
    SEED_CLAIM_ATTR,
    SWEEP_SUMMARY_FILE,
    TUNING_STORAGE,
    TUNING_STUDY_NAME,
    TUNING_TRIAL_NUMBER,
)
from diffexp.secret_args import export_password
from diffexp.tuning.analysis.best_trial import best_trial_overrides
from diffexp.tuning.liveness import fail_stale_trials, retried_numbers
from diffexp.tuning.liveness_policy import Liveness
from diffexp.tuning.outcome import TrialOutcome
from diffexp.tuning.pruners import build_pruner, pruner_config_to_dict
from diffexp.tuning.storage import shown_url, storage_kind, url_without_password
from diffexp.tuning.storage_checks import warn_if_unsafe_storage
from diffexp.tuning.study import NO_PRUNER, Beater, StudyGateway
from diffexp.tuning.study_lock import StudyLock
from diffexp.tuning.sweeper.app import TRIAL_ENV
from diffexp.tuning.sweeper.plan import SearchSpace, SweepPlan
from diffexp.tuning.sweeper.resources import launcher_kind, set_trial_threads, slots_for
from diffexp.tuning.sweeper.sampler_seed import derive_seed, shared_seed
from diffexp.tuning.sweeper.search_space import distributions_from_overrides, param_lines
from diffexp.tuning.sweeper.summary import build_summary, format_summary, write_results

log = logging.getLogger(__name__)

WARNING_PREFIX = "diffexp: warning: "  # stderr: a sweep whose failures were all tolerated
DEFAULT_STUDY_FILE = "optuna_study.db"  # in the sweep folder, when hydra.sweeper.storage is null
POLL_S = 2.0  # a slot without budget looks at the study again after this
# Their draws follow the trial number (a grid point, a QMC index) in an order the seed sets:
# every sweeper of the study needs the same order, or trial 3 of one is trial 5 of another.
SAME_SEED_SAMPLERS = ("GridSampler", "QMCSampler")


class SweepStoppedError(UserError, ValueError):
    """More trials failed than `max_failure_rate` allows; the sweep launched no more. The
    cause is in the trials (their fail_reason), so the message names the most common one."""


@dataclass
class _SweepState:
    """Shared between slot threads; every access holds `lock`."""

    allowed_failures: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    launched: list[int] = field(default_factory=list)
    failures: int = 0
    finished: int = 0
    stopped: bool = False
    silent_warned: bool = False  # "the app reports nothing to the pruner", said once
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Run:
    """A sweep in progress, what its slot threads share: the plan, the study, the lock every
    sweeper of the study takes to ask, the beater for this sweeper's trials, the counts."""

    plan: SweepPlan
    gateway: StudyGateway
    lock: StudyLock
    beater: Beater
    state: _SweepState
    slots: int


class AsyncOptunaSweeperImpl(OptunaSweeperImpl):
    """The sweep logic behind `hydra_plugins.diffexp_sweeper.sweeper.DiffexpOptunaSweeper`."""

    def __init__(
        self,
        *,
        pruner: DictConfig | dict[str, Any] | None,
        cap_n_jobs_to_cores: bool,
        fix_best_of: str | None,
        liveness: Liveness | None = None,
        sampler_config: Any = None,
        sampler_factory: Callable[[int], Any] | None = None,
        **official: Any,
    ) -> None:
        super().__init__(**official)
        self.pruner_config = pruner_config_to_dict(pruner)
        self.pruner = build_pruner(self.pruner_config)
        self.cap_n_jobs_to_cores = cap_n_jobs_to_cores
        self.fix_best_of = fix_best_of
        self.liveness = liveness or Liveness()
        self.sampler_config = sampler_config  # its `seed` is the base of the seed stream
        self.sampler_factory = sampler_factory  # the sampler for a seed
        self.sampler_seed: int | None = None
        self._fixed_provenance: dict[str, Any] | None = None  # staged search: where from

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

    def _open_study(self) -> StudyGateway:
        directions = self._get_directions()
        if len(directions) > 1:
            if self.pruner_config.get("_target_") != NO_PRUNER["_target_"]:
                log.info(
                    "pruning is off: Optuna defines no pruning for %d objectives", len(directions)
                )
            self.pruner_config = dict(NO_PRUNER)
            self.pruner = build_pruner(self.pruner_config)
        gateway = StudyGateway.create(
            str(self.storage),
            self.study_name,
            sampler=self.sampler,
            pruner=self.pruner,
            directions=directions,
            liveness=self.liveness,
        )
        gateway.set_user_attr(PRUNER_ATTR, self.pruner_config)
        gateway.set_user_attr(LIVENESS_ATTR, self.liveness.as_attr())
        if self._fixed_provenance:
            gateway.set_user_attr(FIXED_FROM_ATTR, self._fixed_provenance)
        fail_stale_trials(gateway, None, self.liveness)  # only the dead: live ones run on
        return gateway

    def _seeded_config(self) -> tuple[Any, bool] | None:
        """(configured seed, whether all sweepers must share it), or None: not reseedable."""
        config = self.sampler_config
        if self.sampler_factory is None or not isinstance(config, DictConfig):
            return None
        if "seed" not in config:
            return None
        target = str(OmegaConf.select(config, "_target_", default=""))
        return config.seed, target.endswith(SAME_SEED_SAMPLERS)

    def _share_seed(self, study_name: str) -> None:
        """Grid and QMC: one seed for every sweeper of the study (before the grid is built)."""
        seeded = self._seeded_config()
        if seeded is None or not seeded[1]:
            return
        assert self.sampler_factory is not None
        self.sampler_seed = shared_seed(seeded[0], study_name)
        self.sampler = self.sampler_factory(self.sampler_seed)
        log.info("sampler seed %d, shared by every sweeper of the study", self.sampler_seed)

    def _claim_seed_stream(self, gateway: StudyGateway, lock: StudyLock) -> None:
        """The study's first sweeper samples from the configured seed (a fresh run is as
        reproducible as the official sweeper's); every later sweeper, and every re-run, from
        its own stream derived from that seed, the study and its start. Decided under the
        study lock, so two sweepers starting at once cannot both take the configured seed."""
        seeded = self._seeded_config()
        if seeded is None or seeded[1]:
            return
        assert self.sampler_factory is not None
        configured = seeded[0]
        study = gateway.study
        with lock.held():
            first = configured is not None and SEED_CLAIM_ATTR not in gateway.user_attrs()
            if first:
                claim = f"{os.uname().nodename} pid {os.getpid()}"
                gateway.set_user_attr(SEED_CLAIM_ATTR, claim)
        self.sampler_seed = int(configured) if first else derive_seed(configured, gateway.name)
        self.sampler = study.sampler = self.sampler_factory(self.sampler_seed)
        log.info(
            "sampler seed stream %d (%s; study '%s', sweeper on %s, pid %d)",
            self.sampler_seed,
            "the configured seed: the study's first sweeper"
            if first
            else f"derived from seed {configured} and this sweeper's start",
            study.study_name,
            os.uname().nodename,
            os.getpid(),
        )

    def _hide_password(self) -> None:
        """Trials get the URL without its password; the password goes to the environment,
        which pool workers, submitit and SLURM jobs inherit and `create_storage` reads."""
        bare, password = url_without_password(str(self.storage))
        if password is not None:
            export_password(password)
            self.storage = bare

    # ---- sweep: plan once, open the study, run the slots, report ------------------------

    def plan(self, arguments: list[str]) -> SweepPlan:
        """Everything decided before the first trial, in the order `plan.py` explains."""
        assert self.config is not None and self.launcher is not None
        self.storage = self._storage_url()
        self._hide_password()
        binds_by_config = OmegaConf.select(self.config, "tuning") is not None
        if not binds_by_config:
            log.info(
                "the app's config has no `tuning` node: trials learn their trial from %s; "
                "they can be pruned only if the app reports (diffexp.tuning.sweeper.app."
                "trial_reporter)",
                "/".join(TRIAL_ENV),
            )
        self._share_seed(str(self.study_name))
        space = SearchSpace(*self._search_space(arguments))
        kind = launcher_kind(self.launcher)
        return SweepPlan(
            storage_url=str(self.storage),
            study_name=str(self.study_name),
            space=space,
            n_trials=int(self.n_trials),
            launcher_kind=kind,
            max_slots=slots_for(self.n_jobs, kind, self.cap_n_jobs_to_cores),
            binds_by_config=binds_by_config,
        )

    def sweep(self, arguments: list[str]) -> None:
        plan = self.plan(arguments)
        gateway = self._open_study()
        lock = StudyLock(plan.storage_url, gateway.name)
        self._claim_seed_stream(gateway, lock)
        self._warn_unsafe_storage(plan.launcher_kind)
        run = self._start(plan, gateway, lock)
        try:
            self._run_slots(run)
        finally:
            run.beater.stop()
            lock.close()
        self._report(run)

    def _start(self, plan: SweepPlan, gateway: StudyGateway, lock: StudyLock) -> _Run:
        """Count the study's budget, start beating for this sweeper's trials (and failing
        dead ones on each beat), size the slots."""
        counted, running = _budget(gateway)
        to_run = max(0, plan.n_trials - counted)
        log.info(
            "study '%s' in %s: %d trials count toward n_trials=%d (%d running), %d to start; "
            "pruner %s",
            gateway.name,
            shown_url(plan.storage_url),
            counted,
            plan.n_trials,
            running,
            to_run,
            type(self.pruner).__name__,
        )
        state = _SweepState(allowed_failures=self.max_failure_rate * max(to_run, 1))
        beater = gateway.beater(
            self.liveness.interval,
            on_tick=lambda: fail_stale_trials(gateway, None, self.liveness),
            name="sweeper-heartbeat",
        ).start()
        slots = min(plan.max_slots, max(to_run, 1))
        if to_run:
            set_trial_threads(slots, plan.launcher_kind)
        return _Run(plan, gateway, lock, beater, state, slots)

    def _report(self, run: _Run) -> None:
        """The summary files and lines; exit 2 when too many trials failed."""
        study, state = run.gateway.study, run.state
        summary = build_summary(study, shown_url(run.plan.storage_url), state.launched)
        write_results(Path(str(self.config.hydra.sweep.dir)), study, summary)
        log_best(study)
        text = format_summary(summary)
        log.info("sweep summary written to %s/%s", self.config.hydra.sweep.dir, SWEEP_SUMMARY_FILE)
        print(text, flush=True)
        if state.stopped or (state.launched and state.failures == len(state.launched)):
            if not state.stopped and self.max_failure_rate >= 1.0:
                self._say_every_failure_tolerated(summary, len(state.launched))
                return
            raise SweepStoppedError(self._stopped_message(summary, state, len(state.launched)))

    def _say_every_failure_tolerated(self, summary: dict, launched: int) -> None:
        """As the official sweeper, max_failure_rate=1.0 tolerates every failure: exit 0, but
        loudly. The reason goes to the log (stdout), one warning line to stderr: the official
        suite checks that the trials' error is not repeated there."""
        reason, count = _most_common_reason(summary)
        log.error(
            "every trial failed (%d of %d), tolerated by hydra.sweeper.max_failure_rate=1.0; "
            "most common reason (%dx): %s",
            launched,
            launched,
            count,
            reason,
        )
        print(
            f"{WARNING_PREFIX}every trial of this sweep failed ({launched} of {launched}); "
            "hydra.sweeper.max_failure_rate=1.0 tolerates that, so the sweep exits 0; the "
            f"reasons: the log above and {self.config.hydra.sweep.dir}/{SWEEP_SUMMARY_FILE}",
            file=sys.stderr,
            flush=True,
        )

    def _warn_unsafe_storage(self, kind: str) -> None:
        warning = warn_if_unsafe_storage(kind, str(self.storage))
        if warning:
            log.warning(warning)

    def _stopped_message(self, summary: dict, state: _SweepState, to_run: int) -> str:
        reason, count = _most_common_reason(summary)
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

    def _run_slots(self, run: _Run) -> None:
        if run.slots == 1:
            self._slot(run)
            return
        threads = [
            threading.Thread(target=self._slot, args=(run,), name=f"trial-slot-{i}", daemon=True)
            for i in range(run.slots)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _slot(self, run: _Run) -> None:
        """One slot, the official loop one trial at a time: ask, launch, tell. When the budget
        is spent, wait until no trial of the study runs (other sweepers' live trials may still
        fail and be retried), then end."""
        state = run.state
        while not state.done.is_set():
            asked = self._ask(run)
            if asked is None:
                if state.stopped or self._study_settled(run):
                    state.done.set()
                    break
                state.done.wait(POLL_S)
                continue
            trial, overrides = asked
            try:
                failed = self._launch_and_tell(run, trial, overrides)
            except Exception as exc:  # a storage error here must not silently end the slot
                log.exception("trial %d: the sweeper could not record it", trial.number)
                failed = True
                with contextlib.suppress(Exception):
                    self._tell_for_job(run.gateway, trial, None, exc)
            finally:
                run.beater.discard(trial)
            self._count(run, failed)

    def _count(self, run: _Run, failed: bool) -> None:
        """One more trial of this sweep ended; too many failures stop the launching."""
        state = run.state
        with state.lock:
            state.failures += failed
            state.finished += 1
            log.info(
                "progress: %d trials of this sweep finished (%d failed); the study has %d "
                "of n_trials=%d",
                state.finished,
                state.failures,
                _budget(run.gateway)[0],
                run.plan.n_trials,
            )
            if state.failures > state.allowed_failures and not state.stopped:
                state.stopped = True
                log.error(
                    "%d trials failed (max_failure_rate=%s): launching no more",
                    state.failures,
                    self.max_failure_rate,
                )

    def _study_settled(self, run: _Run) -> bool:
        """The budget is spent and no trial of the study runs, here or elsewhere."""
        counted, running = _budget(run.gateway)
        return counted >= run.plan.n_trials and running == 0

    def _ask(self, run: _Run) -> tuple[optuna.Trial, list[str]] | None:
        """A new trial and its overrides, or None when the study's budget is spent (counted
        under the lock every sweeper of the study takes, with `study.ask` and the sampler)."""
        gateway, plan, state = run.gateway, run.plan, run.state
        with state.lock, run.lock.held():
            if state.stopped:
                return None
            if _budget(gateway)[0] >= plan.n_trials:
                return None
            trial = gateway.ask()
            # beats at once (alive from its first moment, before its job starts) and then on
            run.beater.add(trial)
            state.launched.append(trial.number)
            self._configure_trials([trial], *plan.space)  # official: suggest + fixed user attrs
            if self.sampler_seed is not None:
                gateway.set_trial_attr(trial, SEED_ATTR, self.sampler_seed)
            overrides = self._trial_overrides(trial, *plan.space)
        if plan.binds_by_config:
            return trial, overrides + [
                f"{TUNING_STUDY_NAME}={_quoted(gateway.name)}",
                f"{TUNING_STORAGE}={_quoted(plan.storage_url)}",
                f"{TUNING_TRIAL_NUMBER}={trial.number}",
            ]
        values = (gateway.name, plan.storage_url, str(trial.number))
        return trial, overrides + [  # a foreign app: the same three through its environment
            f"++hydra.job.env_set.{name}={_quoted(value)}"
            for name, value in zip(TRIAL_ENV, values, strict=True)
        ]

    @staticmethod
    def _trial_overrides(trial, distributions, fixed_params, fixed_overrides) -> list[str]:
        """Like the official overrides, but each value rendered so Hydra parses it back."""
        searched = [f"{k}={hydra_value(v)}" for k, v in trial.params.items()]
        fixed = [f"{k}={v}" for k, v in fixed_params.items()]  # already override strings
        return searched + fixed + list(fixed_overrides)

    def _launch_and_tell(self, run: _Run, trial: optuna.Trial, overrides: list[str]) -> bool:
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
        frozen = run.gateway.frozen(trial)
        if not frozen.state.is_finished():
            frozen = self._tell_for_job(run.gateway, trial, value, error)
        log.info("trial %d %s values=%s", trial.number, frozen.state.name, frozen.values)
        self._warn_if_silent(run, frozen)
        return frozen.state == TrialState.FAIL

    def _warn_if_silent(self, run: _Run, frozen: FrozenTrial) -> None:
        """Say once that a pruner is set but the app's trials report nothing to it."""
        if (
            run.plan.binds_by_config
            or run.state.silent_warned
            or frozen.state != TrialState.COMPLETE
            or frozen.intermediate_values
            or self.pruner_config.get("_target_") == NO_PRUNER["_target_"]
        ):
            return
        run.state.silent_warned = True
        log.warning(
            "trial %d reported no intermediate value: the app does not call "
            "diffexp.tuning.sweeper.app.trial_reporter(), so no trial is pruned",
            frozen.number,
        )

    def _tell_for_job(self, gateway: StudyGateway, trial, value, error):
        """Record the end of a trial whose job did not: PRUNED (an app's reporter raised
        TrialPruned out of the task), COMPLETE (it returned a value without telling), or FAIL
        with the launcher's reason (it died or raised before it could)."""
        outcome = None
        if _is_pruned(error):
            outcome = TrialOutcome("PRUNED")
        elif error is None:
            try:
                values = objective_values(value, len(gateway.study.directions))
                outcome = TrialOutcome("COMPLETE", values=values)
            except (TypeError, ValueError) as exc:
                error = exc
        if outcome is None:
            outcome = TrialOutcome("FAIL", fail_reason=_reason(error))
            log.warning("trial %d failed: %s", trial.number, outcome.fail_reason)
        return gateway.record_outcome(trial, outcome) or gateway.frozen(trial)


def _most_common_reason(summary: dict) -> tuple[str, int]:
    """The most common first line among the failed trials' reasons, and how often it came."""
    reasons = Counter(
        first_line(str(reason)) or "unknown" for reason in summary["failed_trials"].values()
    )
    return reasons.most_common(1)[0] if reasons else ("unknown", 0)


def _budget(study: optuna.Study | StudyGateway) -> tuple[int, int]:
    """(trials that count toward n_trials, trials running). A FAIL trial replaced by a retry
    does not count; a WAITING (enqueued) trial counts once `study.ask` starts it."""
    gateway = study if isinstance(study, StudyGateway) else StudyGateway(study)
    trials = gateway.trials()
    retried = retried_numbers(trials)
    counted = sum(
        t.state != TrialState.WAITING and not (t.state == TrialState.FAIL and t.number in retried)
        for t in trials
    )
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return counted, running


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
    first = first_line(error) if error is not None else name
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
