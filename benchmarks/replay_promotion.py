"""Pause-and-resume promotion (ASHA's "promotion" variant) on the replay's simulated clock.

Optuna's pruners can only stop a trial; ASHA as published (Li et al., "A System for
Massively Parallel Hyperparameter Tuning", MLSys 2020) also *continues* paused trials later.
Rungs sit at r, r*eta, r*eta^2, ... epochs (below the budget) and at the budget itself. A trial
runs to its next rung and pauses there, freeing its slot. A free slot first promotes a paused
trial: from the highest rung down, the best paused trial of a rung that is among the top
floor(n/eta) of the n results that rung has recorded (every trial that reached it, promoted or
not). If none qualifies, the slot asks the Optuna sampler for a new trial; once the study's
epoch budget is spent, it waits for the next result, which may qualify a promotion.

The budget is in epochs, not trials: ASHA's trials mostly stop at the first rung, and with 20
trials and rungs (1, 3, 9, 10) no trial could ever reach the top (it takes eta results at a
rung to promote one). `replay_bench` gives it the epochs of the other policies' `n_trials`
trials run to the end (`n_trials * epochs`), the most any of them may train; new trials are
asked while the epochs of the jobs started so far are below it.

A resumed trial is a new job reloading its checkpoint (what `trainer.resume` would do): it pays
the recorded per-trial start-up again, plus the compile unless its slot's worker keeps the
shape (the same least-recently-used memory as diffexp's other policies), and its curve goes
on from the epoch it paused at. That holds even when the slot that paused a trial promotes it
at once: each rung is one job. `Promotion.free_resume` drops that charge, as a bound on what
any resume, however cheap, could win.

The study sees what a sweeper building this on Optuna would give it: every epoch
`trial.report(val_loss, epoch)`; a trial that reaches the budget is told COMPLETE with its best
validation loss (the training objective); a diverged epoch is told FAIL. A paused trial stays
RUNNING (it is not finished: it may be continued), so TPE's start-up count (COMPLETE and
PRUNED trials only) does not count it, and its constant liar treats it as a running trial. At
the study end, a trial still paused is told PRUNED: it stopped before its budget, as a pruned
trial does, and its reports stand (TPE ranks pruned trials by their last step and value).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Collection
from dataclasses import dataclass, field

import optuna

from benchmarks.curve_table import Curve, CurveTable
from benchmarks.replay import (
    Overheads,
    ReplayRun,
    TrialSpan,
    compiled_shapes,
    start_overhead,
)

NO_EXTRA_OVERHEADS = Overheads()  # a warm worker: its fresh start-up once, a compile per trial


@dataclass(frozen=True)
class Promotion:
    """ASHA's rungs: the first at `min_epochs`, each next one `eta` times further."""

    eta: int = 3
    min_epochs: int = 1
    free_resume: bool = False  # a bound, not a tool: a resumed job pays no start-up or compile

    def rungs(self, max_epochs: int) -> tuple[int, ...]:
        """Rung epochs, ascending, the last one the budget: (1, 3, 9, 10) for 10 epochs."""
        rungs, epochs = [], self.min_epochs
        while epochs < max_epochs:
            rungs.append(epochs)
            epochs *= self.eta
        return (*rungs, max_epochs)


@dataclass(frozen=True)
class Segment:
    """One job of a trial: a run from one rung to the next on one slot."""

    slot: int
    start: float  # when its slot took it (the start-up and any compile follow)
    end: float  # its last epoch's end
    first_epoch: int  # 1-based
    last_epoch: int
    compiled: bool


@dataclass
class PromotedSpan(TrialSpan):
    """A trial's whole life: `start` its first job's start, `end` its last job's end."""

    segments: list[Segment] = field(default_factory=list)


@dataclass
class _Job:
    trial: optuna.trial.Trial
    curve: Curve
    span: PromotedSpan
    start: float
    first_epoch: int
    stop_epoch: int  # the rung it runs to
    compiled: bool
    epoch: int = 0  # epochs reported so far, over all its jobs


def replay_promotion(
    table: CurveTable,
    sampler: optuna.samplers.BaseSampler,
    distributions: dict[str, optuna.distributions.BaseDistribution],
    workers: int,
    epoch_budget: int,
    promotion: Promotion = Promotion(),
    overheads: Overheads = NO_EXTRA_OVERHEADS,
    study_name: str = "replay",
) -> ReplayRun:
    """Run promotion on `workers` slots, asking new trials while the jobs started so far
    plan fewer than `epoch_budget` epochs; the spans carry each trial's jobs
    (`PromotedSpan.segments`)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        direction="minimize",
        sampler=sampler,
        pruner=optuna.pruners.NopPruner(),
    )
    rungs = promotion.rungs(table.epochs)
    ladder = _Ladder(rungs, promotion.eta)
    run = ReplayRun()
    events: list[tuple[float, int, int]] = []  # (time, tie-breaker, slot)
    order = itertools.count()
    jobs: dict[int, _Job] = {}  # slot -> its job
    paused: dict[int, _Job] = {}  # trial number -> the job it paused in
    compiled = [compiled_shapes() for _ in range(workers)]
    planned = [0]  # epochs of the jobs started so far, to their rungs

    def begin(slot: int, now: float, job: _Job) -> None:
        before, job.compiled = start_overhead(job.curve, compiled[slot], overheads, table)
        if job.epoch and promotion.free_resume:
            before, job.compiled = 0.0, False
        job.start, job.first_epoch = now, job.epoch + 1
        job.stop_epoch = next(r for r in rungs if r > job.epoch)
        planned[0] += job.stop_epoch - job.epoch
        job.span.state = "RUNNING"
        jobs[slot] = job
        first = overheads.epoch_seconds(job.curve, job.epoch)
        heapq.heappush(events, (now + before + first, next(order), slot))

    def new_trial(slot: int, now: float) -> None:
        trial = study.ask(distributions)
        span = PromotedSpan(trial.number, slot, now, params=dict(trial.params))
        run.spans.append(span)
        begin(slot, now, _Job(trial, table.nearest(trial.params), span, now, 0, 0, False))

    def launch(now: float) -> None:
        for slot in range(workers):
            if slot in jobs:
                continue
            number = ladder.promotable(paused.keys())
            if number is not None:
                ladder.promote(number)
                begin(slot, now, paused.pop(number))
            elif planned[0] < epoch_budget:
                new_trial(slot, now)
            else:
                return  # nothing to promote or ask: the other free slots wait too

    def end_job(slot: int, now: float) -> _Job:
        job = jobs.pop(slot)
        job.span.segments.append(
            Segment(slot, job.start, now, job.first_epoch, job.epoch, job.compiled)
        )
        job.span.end, job.span.epochs_run = now, job.epoch
        job.span.compiled = job.span.compiled or job.compiled
        return job

    def finish(job: _Job, state: str, value: float | None = None) -> None:
        study.tell(job.trial, value, state=optuna.trial.TrialState[state])
        job.span.state, job.span.value = state, value

    launch(table.fresh_worker_seconds if overheads.fresh_process_per_worker else 0.0)
    while events:
        now, _, slot = heapq.heappop(events)
        job = jobs[slot]
        loss = _report_next_epoch(job)
        if not math.isfinite(loss):
            finish(end_job(slot, now), "FAIL")
        elif job.epoch == table.epochs:
            finish(end_job(slot, now), "COMPLETE", min(job.curve.val_loss[: job.epoch]))
        elif job.epoch == job.stop_epoch:
            ladder.record(job.epoch, job.trial.number, loss)
            paused[job.trial.number] = end_job(slot, now)
            job.span.state = "PAUSED"
        else:
            next_epoch = overheads.epoch_seconds(job.curve, job.epoch)
            heapq.heappush(events, (now + next_epoch, next(order), slot))
            continue
        launch(now)
    for job in paused.values():  # left paused at the study end: stopped before its budget
        finish(job, "PRUNED")
    return run


def _report_next_epoch(job: _Job) -> float:
    """Report the job's next recorded epoch (as the trial job does); its loss, nan past the
    recorded curve (a run that died there)."""
    curve = job.curve
    loss = curve.val_loss[job.epoch] if job.epoch < len(curve.val_loss) else math.nan
    job.epoch += 1
    if math.isfinite(loss):
        job.trial.report(loss, job.epoch)
    return loss


class _Ladder:
    """Each rung's recorded results and which of its trials were promoted from it."""

    def __init__(self, rungs: tuple[int, ...], eta: int) -> None:
        self.eta = eta
        self.results: dict[int, list[tuple[float, int]]] = {r: [] for r in rungs[:-1]}
        self.promoted: dict[int, set[int]] = {r: set() for r in rungs[:-1]}
        self.rung_of: dict[int, int] = {}  # trial number -> the rung it paused at last

    def record(self, rung: int, number: int, loss: float) -> None:
        bisect.insort(self.results[rung], (loss, number))
        self.rung_of[number] = rung

    def promotable(self, paused: Collection[int]) -> int | None:
        """The best paused trial in the top 1/eta of the highest rung that has one."""
        for rung in sorted(self.results, reverse=True):
            ranked = self.results[rung]  # kept sorted by record()
            for _, number in ranked[: len(ranked) // self.eta]:
                if number in paused and number not in self.promoted[rung]:
                    return number
        return None

    def promote(self, number: int) -> None:
        self.promoted[self.rung_of[number]].add(number)
