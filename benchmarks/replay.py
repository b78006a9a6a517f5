"""Replay a learning-curve table through a real Optuna study on a simulated clock.

The study is asked exactly as a sweeper asks it: `study.ask(distributions)` when a slot is
free, `trial.report(val_loss, epoch)` and `trial.should_prune()` after every epoch, and
`study.tell` with the best validation loss (the training objective), PRUNED or FAIL. Only the
clock is simulated: a trial's start-up, compile and epochs take the seconds the table recorded
for the configuration nearest to its params (`CurveTable.nearest`), and events are handled in
simulated-time order, so reports of concurrent trials interleave as they would for real.

The compile: a process that compiles per trial (a fresh process per trial, Optuna's threads)
pays it in every trial; a warm pool worker keeps one compiled trainer per graph shape
(`diffexp.training.trainer_cache`), so a trial pays it only when its shape (`Curve.shape`)
is not among the shapes its worker keeps (`Overheads.compile_once_per_shape`).

Two ways of filling the slots:
- asynchronous (diffexp's sweeper, Optuna's threads): a slot that frees starts the next trial
  at once;
- synchronous batches (the official Hydra sweeper): ask `workers` trials, wait for the slowest,
  tell them all, ask the next batch.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field

import optuna

from benchmarks.curve_table import Curve, CurveTable
from diffexp.training import trainer_cache
from diffexp.training.worker_cache import WorkerMemory


@dataclass(frozen=True)
class Overheads:
    """Which recorded overheads a policy's trials pay."""

    fresh_process_per_trial: bool = False  # a launcher that starts a Python process per trial
    fresh_process_per_worker: bool = True  # a warm worker pays it once, when it starts
    compile_once_per_shape: bool = False  # a worker keeps compiled trainers (trainer_cache)
    # each epoch takes this many times the recorded one: trials that share one process (threads)
    epoch_time_factor: float = 1.0

    def epoch_seconds(self, curve: Curve, index: int) -> float:
        """Seconds epoch `index` of `curve` takes under these overheads; 0 past the recorded
        curve (the run died there)."""
        if index >= len(curve.epoch_seconds):
            return 0.0
        return curve.epoch_seconds[index] * self.epoch_time_factor


@dataclass
class TrialSpan:
    number: int
    slot: int
    start: float
    end: float = math.nan
    state: str = "RUNNING"
    value: float | None = None
    epochs_run: int = 0
    params: dict = field(default_factory=dict)  # what the sampler proposed
    compiled: bool = False  # paid the compile (a new shape for its worker, or no trainer cache)


@dataclass
class ReplayRun:
    """What one replay produced: every trial's span and the completed (time, value) points."""

    spans: list[TrialSpan] = field(default_factory=list)

    @property
    def timeline(self) -> list[tuple[float, float]]:
        return sorted((s.end, s.value) for s in self.spans if s.state == "COMPLETE")

    @property
    def wall_seconds(self) -> float:
        return max((s.end for s in self.spans), default=0.0)


@dataclass
class _Running:
    trial: optuna.trial.Trial
    curve: Curve
    span: TrialSpan
    epoch: int = 0  # epochs reported so far


def replay(
    table: CurveTable,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    distributions: dict[str, optuna.distributions.BaseDistribution],
    workers: int,
    n_trials: int,
    synchronous: bool = False,
    overheads: Overheads = Overheads(),
    study_name: str = "replay",
) -> ReplayRun:
    """Run `n_trials` trials on `workers` slots; return their spans on the simulated clock.
    `study_name` is fixed, not Optuna's random one: Hyperband picks a trial's bracket from a
    hash of the study name, so a random name would make the replay unrepeatable."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name, direction="minimize", sampler=sampler, pruner=pruner
    )
    run = ReplayRun()
    events: list[tuple[float, int, int]] = []  # (time, tie-breaker, slot)
    order = itertools.count()
    running: dict[int, _Running] = {}
    slot_start = table.fresh_worker_seconds if overheads.fresh_process_per_worker else 0.0
    compiled = [compiled_shapes() for _ in range(workers)]

    def start(slot: int, now: float) -> None:
        trial = study.ask(distributions)
        curve = table.nearest(trial.params)
        span = TrialSpan(trial.number, slot, now, params=dict(trial.params))
        run.spans.append(span)
        running[slot] = _Running(trial, curve, span)
        before, span.compiled = start_overhead(curve, compiled[slot], overheads, table)
        first = overheads.epoch_seconds(curve, 0)
        heapq.heappush(events, (now + before + first, next(order), slot))

    def finish(slot: int, now: float, state: str, value: float | None = None) -> None:
        item = running.pop(slot)
        study.tell(item.trial, value, state=optuna.trial.TrialState[state])
        item.span.end, item.span.state, item.span.value = now, state, value
        item.span.epochs_run = item.epoch

    def launch(now: float) -> None:
        """Start trials on free slots: any free slot (async), or a whole batch once all free."""
        free = [s for s in range(workers) if s not in running]
        if synchronous and len(free) < workers:
            return
        for slot in free:
            if len(run.spans) >= n_trials:
                return
            start(slot, now)

    launch(slot_start)
    while events:
        now, _, slot = heapq.heappop(events)
        item = running[slot]
        outcome = _advance(item, table.epochs)
        if outcome is None:
            next_epoch = overheads.epoch_seconds(item.curve, item.epoch)
            heapq.heappush(events, (now + next_epoch, next(order), slot))
            continue
        finish(slot, now, *outcome)
        launch(now)
    return run


def compiled_shapes() -> WorkerMemory[bool]:
    """The shapes one warm worker has compiled, kept and dropped exactly as the trainer cache
    keeps compiled trainers (least recently used first, `trainer_cache.MAX_ENTRIES` at once)."""
    memory: WorkerMemory[bool] = WorkerMemory(trainer_cache.MAX_ENTRIES)
    memory.enable()
    return memory


def start_overhead(
    curve: Curve, compiled: WorkerMemory[bool], overheads: Overheads, table: CurveTable
) -> tuple[float, bool]:
    """Seconds a job pays before its first epoch on a worker whose compiled shapes are
    `compiled` (updated), and whether it compiled: the recorded start-up, the compile unless
    the worker keeps the shape, a fresh process if the launcher starts one per job."""
    seconds, compiles = curve.startup_seconds, False
    if not overheads.compile_once_per_shape or compiled.get(curve.shape) is None:
        seconds += curve.compile_seconds
        compiles = True
        compiled.keep(curve.shape, True)
    if overheads.fresh_process_per_trial:
        seconds += table.fresh_worker_seconds
    return seconds, compiles


def _advance(item: _Running, epochs: int) -> tuple[str, float | None] | None:
    """Report the next epoch; (state, value) if the trial ends with it, else None."""
    curve = item.curve
    loss = curve.val_loss[item.epoch] if item.epoch < len(curve.val_loss) else math.nan
    item.epoch += 1
    if not math.isfinite(loss):
        return "FAIL", None
    item.trial.report(loss, item.epoch)
    # as the trial job does: every epoch, the last too, may be pruned (tuning/trial/reporter.py)
    if item.trial.should_prune():
        return "PRUNED", None
    if item.epoch >= min(epochs, len(curve.val_loss)):
        if curve.failed and len(curve.val_loss) < epochs:
            return "FAIL", None
        return "COMPLETE", min(curve.val_loss)
    return None
