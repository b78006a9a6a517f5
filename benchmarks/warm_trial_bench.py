"""Section 8: where a phase-1 trial's time goes in a warm worker, before and after the worker
keeps its compiled trainer per graph shape (diffexp.training.trainer_cache); both keep the
prepared data in memory (diffexp.training.worker_cache), as the pool worker does.

This process plays the warm pool worker: TensorFlow and diffexp are imported, and trials run
one after another through the same TrainingSession a pool job runs, with the worker's own
reset between them (`job_runner.reset_between_jobs`, as a worker that keeps compiled trainers
runs it). Each trial is timed by part:

- data: preparing the data (load the event cache, split, normalise, encode) and saving the
  normalisation into the run folder;
- model build: the denoiser, optimizer, validator and trainer (a kept trainer: a fresh
  denoiser's weights assigned to it, its optimizer reset, the trial's learning rates);
- compile: the first epoch's excess over a later one (tracing and compiling the step and
  validation functions happens there);
- writes: checkpoints, best weights, curves and the summary (the trial's time in `fit` and
  after it that is not in its epochs);
- epochs: the training and validation epochs themselves, less the compile.

The two variants (compiled trainers kept: off, on) alternate trial by trial, so load from
other processes falls on both alike; the first trial of each is a warm-up (it fills the
caches). Each trial has its own learning rate (`LEARNING_RATE_FACTORS`), as a phase-1 search
gives them, so a reused trainer must take the new one without a retrace.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from benchmarks import epochs, stats
from benchmarks.context import BenchContext
from diffexp.training import records, trainer_cache, worker_cache

PARTS = ("data", "model_build", "compile", "writes")
VARIANTS = {"before": False, "after": True}  # variant: trainer_cache on? (worker_cache: always)
LEARNING_RATE_FACTORS = (1.0, 0.5, 2.0, 0.25, 4.0)  # trial i trains at lr x factor[i % 5]


def timed_trial(cfg, run_dir: Path) -> dict[str, float]:
    """Seconds of each part of one trial, its epochs and its total."""
    from diffexp.training.session import TrainingSession
    from hydra_plugins.diffexp_pool_launcher.job_runner import reset_between_jobs

    started = time.perf_counter()
    session = TrainingSession(cfg, run_dir)
    prepared = time.perf_counter()
    trainer = session.build_trainer()
    built = time.perf_counter()
    result = trainer.fit()
    fitted = time.perf_counter()
    session.write_summary(trainer, result.stop_reason)
    ended = time.perf_counter()
    rows = records.read_metrics(run_dir)
    compile_seconds = epochs.first_epoch_excess(rows)
    training = float(rows[-1]["training_time_seconds"])
    # what a worker that keeps compiled trainers does after answering (untimed): the other
    # variant's Keras session clear would also drop what this process keeps for the "after"
    # trials (TensorFlow's kernel cache), which no real worker of either kind does to the other
    kept = trainer_cache.enabled()
    trainer_cache.enable(True)
    try:
        reset_between_jobs()
    finally:
        trainer_cache.enable(kept)
    return {
        "data": prepared - started,
        "model_build": built - prepared,
        "compile": compile_seconds,
        "writes": (fitted - built - training) + (ended - fitted),
        "epochs": training - compile_seconds,
        "total": ended - started,
    }


def run(ctx: BenchContext) -> dict:
    size = ctx.size
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    loads: list[float] = []
    was_enabled = worker_cache.enabled(), trainer_cache.enabled()
    worker_cache.clear()
    trainer_cache.clear()
    worker_cache.enable(True)
    try:
        for index in range(int(size.warm_trials) + 1):  # +1: the warm-up trial of each variant
            cfg = _trial_cfg(ctx, index)
            for name, trainers_kept in VARIANTS.items():
                trainer_cache.enable(trainers_kept)
                run_dir = ctx.work_dir / "warm_trial" / f"{name}_{index}"
                timing = timed_trial(cfg, run_dir)
                if index > 0:
                    timings[name].append(timing)
                    loads.append(os.getloadavg()[0])
    finally:
        worker_cache.enable(was_enabled[0])
        trainer_cache.enable(was_enabled[1])
        worker_cache.clear()
        trainer_cache.clear()
    return {"figures": _figures(timings, ctx.device), "details": _details(ctx, timings, loads)}


def _trial_cfg(ctx: BenchContext, index: int):
    """Trial `index`'s config: the section's overrides, its own learning rate."""
    overrides = dict(ctx.size.warm_trial_overrides)
    base = ctx.train_cfg(overrides)
    factor = LEARNING_RATE_FACTORS[index % len(LEARNING_RATE_FACTORS)]
    return ctx.train_cfg({**overrides, "optimizer.lr": float(base.optimizer.lr) * factor})


def _figures(timings: dict[str, list[dict[str, float]]], device: str) -> dict:
    figures = {}
    for name, trials in timings.items():
        outside = [sum(t[p] for p in PARTS) / t["total"] for t in trials]
        figures[f"{name}_outside_share"] = stats.figure(outside, "fraction", device)
        for part in PARTS:
            shares = [t[part] / t["total"] for t in trials]
            figures[f"{name}_{part}_share"] = stats.figure(shares, "fraction", device)
        figures[f"{name}_trial_seconds"] = stats.figure([t["total"] for t in trials], "s", device)
    return figures


def _details(ctx: BenchContext, timings: dict, loads: list[float]) -> dict:
    cfg = ctx.train_cfg(dict(ctx.size.warm_trial_overrides))
    return {
        "profile": str(cfg.profile.name),
        "overrides": dict(ctx.size.warm_trial_overrides),
        "epochs": int(cfg.trainer.epochs),
        "steps_per_epoch": int(cfg.trainer.steps_per_epoch),
        "batch_size": int(cfg.trainer.batch_size),
        "learning_rate_factors": list(LEARNING_RATE_FACTORS[: int(ctx.size.warm_trials) + 1]),
        "trials": timings,
        "load_average_1m_median": statistics.median(loads) if loads else None,
    }
