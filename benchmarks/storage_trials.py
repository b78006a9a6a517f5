"""Simulated trials that make a real trial's storage requests, without training: what the
storage load benchmark's client processes run (`benchmarks.storage_load`).

One client stands for one sweeper slot and the trial jobs it launches, one after another, and
makes the calls diffexp's own code makes, through the same `StudyGateway` and storage opening:

- ask (the sweeper): under the study lock, count the study's trials (`n_trials`), `study.ask`
  with phase 1's search space (TPE with constant liar, as `conf/search/phase1.yaml`), the
  sweeper's first heartbeat for the trial and its seed attribute;
- open (the job): `StudyGateway.for_trial` (a new storage, as a new job process opens), the
  trial's state, its run folder attribute and the job's first heartbeat;
- report (per epoch): `report` then `should_prune` with the median pruner of phase 1;
- tell: `record_outcome` (COMPLETE or PRUNED, and trial.json), then the sweeper reads the
  trial's state back.

The heartbeat interval (20 s) is longer than a default-profile trial's epochs (~12 s), so the
two first beats are a real trial's beats; none falls inside the compressed trial here.
The loss curves are made up so that the median pruner stops about a quarter of the trials
(phase 1 pruned 1-6 of 12 in docs/benchmarks.md): each trial improves a little on the ones
before it, and one in four is clearly worse and is stopped after the pruner's warm-up.
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from omegaconf import OmegaConf

from diffexp.names import LIVENESS_ATTR, PRUNER_ATTR, RUN_DIR_ATTR, SEED_ATTR
from diffexp.tuning.liveness_policy import DEFAULT_LIVENESS
from diffexp.tuning.outcome import TrialOutcome
from diffexp.tuning.pruners import build_pruner
from diffexp.tuning.storage import storage_kind
from diffexp.tuning.study import StudyGateway, beat, trial_id
from diffexp.tuning.study_lock import StudyLock
from diffexp.tuning.sweeper.search_space import distributions_from_overrides, param_lines

REPO = Path(__file__).resolve().parents[1]
SEARCH_FILE = REPO / "conf" / "search" / "phase1.yaml"
PRUNER_FILE = REPO / "conf" / "hydra" / "sweeper" / "pruner" / "median.yaml"
STUDY_NAME = "storage-load"
OPERATIONS = ("ask", "in_lock", "open", "report", "tell")  # in_lock: the part of ask under the lock


def phase1_distributions() -> dict:
    """Phase 1's search space, parsed as the sweeper parses it."""
    params = OmegaConf.to_container(OmegaConf.load(SEARCH_FILE).hydra.sweeper.params)
    return distributions_from_overrides(param_lines(params))[0]


def median_pruner_config() -> dict:
    return OmegaConf.to_container(OmegaConf.load(PRUNER_FILE))


def create_study(url: str) -> None:
    """The study as the sweeper creates it: pruner and liveness recorded for the jobs."""
    pruner_config = median_pruner_config()
    gateway = StudyGateway.create(
        url,
        STUDY_NAME,
        sampler=None,
        pruner=build_pruner(pruner_config),
        directions=["minimize"],
        liveness=DEFAULT_LIVENESS,
    )
    gateway.set_user_attr(PRUNER_ATTR, pruner_config)
    gateway.set_user_attr(LIVENESS_ATTR, DEFAULT_LIVENESS.as_attr())
    close_storage(gateway)


def close_storage(gateway: StudyGateway) -> None:
    """What a job's exit does: its connections (or gRPC channel) close."""
    storage = getattr(gateway.storage, "_backend", gateway.storage)
    if hasattr(storage, "engine"):
        storage.engine.dispose()
    elif hasattr(storage, "close"):
        storage.close()


BAD_TRIAL_SHARE = 0.25  # trials made clearly worse, which the median pruner stops


def simulated_loss(number: int, epoch: int) -> float:
    """Trial `number`'s validation loss at `epoch`: a falling curve, a little lower for each
    later trial (the sampler learning), 0.5 higher for one trial in four."""
    bad = random.Random(number).random() < BAD_TRIAL_SHARE
    return 0.3 + 0.7 * math.exp(-epoch / 3) - 1e-4 * number + (0.5 if bad else 0.0)


@dataclass
class ClientTimings:
    """Seconds per operation, and the trials this client finished."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})
    trials: int = 0
    pruned: int = 0

    @contextlib.contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds[operation].append(time.perf_counter() - started)


class SimulatedSlot:
    """One sweeper slot and its jobs against the study at `url`. `ask_lock` stands for the
    lock a sweeper's slots share: the study lock (PostgreSQL advisory lock) for a database URL;
    through a gRPC proxy, where diffexp runs one sweeper per study, the lock that sweeper's
    slot threads share (a lock shared by the client processes here)."""

    def __init__(self, url: str, epochs: int, seed: int, ask_lock: Callable | None) -> None:
        self.url = url
        self.epochs = epochs
        self.seed = seed
        self.distributions = phase1_distributions()
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        self.sweeper = StudyGateway.create(
            url,
            STUDY_NAME,
            sampler=sampler,
            pruner=build_pruner(median_pruner_config()),
            directions=["minimize"],
            liveness=DEFAULT_LIVENESS,
        )
        self.study_lock = StudyLock(url, STUDY_NAME) if storage_kind(url) != "grpc" else None
        self.ask_lock = ask_lock
        self.run_dir = Path(tempfile.mkdtemp(prefix="diffexp-storage-load-"))  # trial.json

    def _held(self) -> contextlib.AbstractContextManager:
        if self.study_lock is not None:
            return self.study_lock.held()
        return self.ask_lock if self.ask_lock is not None else contextlib.nullcontext()

    def run_trial(self, timings: ClientTimings) -> None:
        with timings.timed("ask"):
            with self._held(), timings.timed("in_lock"):
                self.sweeper.trials()  # the n_trials count
                trial = self.sweeper.study.ask(fixed_distributions=self.distributions)
            beat(self.sweeper.storage, trial_id(trial))
            self.sweeper.set_trial_attr(trial, SEED_ATTR, self.seed)
        with timings.timed("open"):
            job, job_trial = StudyGateway.for_trial(self.url, STUDY_NAME, trial.number)
            job.frozen(job_trial)
            job.set_trial_attr(job_trial, RUN_DIR_ATTR, str(self.run_dir))
            attr = job.user_attrs().get(LIVENESS_ATTR) or {}  # as `StudyGateway.heartbeat`
            assert attr.get("interval") == DEFAULT_LIVENESS.interval
            beat(job.storage, trial_id(job_trial))
        outcome = self._epochs(job, job_trial, timings)
        with timings.timed("tell"):
            job.record_outcome(job_trial, outcome)
            self.sweeper.frozen(trial)
        close_storage(job)
        timings.trials += 1
        timings.pruned += outcome.state == "PRUNED"

    def _epochs(self, job, trial, timings: ClientTimings) -> TrialOutcome:
        reported: dict[int, float] = {}
        for epoch in range(self.epochs):
            value = simulated_loss(trial.number, epoch)
            reported[epoch] = value
            with timings.timed("report"):
                job.report(trial, value, epoch)
                pruned = job.should_prune(trial)
            if pruned:
                return TrialOutcome("PRUNED", reported=reported, run_dir=self.run_dir)
        best = min(reported.values())
        return TrialOutcome("COMPLETE", values=[best], reported=reported, run_dir=self.run_dir)

    def close(self) -> None:
        if self.study_lock is not None:
            self.study_lock.close()
        close_storage(self.sweeper)
        shutil.rmtree(self.run_dir, ignore_errors=True)
