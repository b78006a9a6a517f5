"""Section 8: where a phase-1 trial's time goes in a warm worker, before and after the worker
keeps its prepared data in memory (diffexp.training.worker_cache).

This process plays the warm pool worker: TensorFlow and diffexp are imported, and trials run
one after another through the same TrainingSession a pool job runs, with Keras' session
cleared between them as the worker does. Each trial is timed by part:

- data: preparing the data (load the event cache, split, normalise, encode) and saving the
  normalisation into the run folder;
- model build: the denoiser, optimizer, validator and trainer;
- compile: the first epoch's excess over a later one (tracing and compiling the step and
  validation functions happens there);
- writes: checkpoints, best weights, curves and the summary (the trial's time in `fit` and
  after it that is not in its epochs);
- epochs: the training and validation epochs themselves, less the compile.

The two variants (cache off, cache on) alternate trial by trial, so load from other processes
falls on both alike; the first trial of each is a warm-up (it fills the cache).
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from pathlib import Path

from benchmarks import epochs, stats
from benchmarks.context import BenchContext
from diffexp.training import records, worker_cache

PARTS = ("data", "model_build", "compile", "writes")
VARIANTS = {"before": False, "after": True}  # variant: worker_cache on?


def timed_trial(cfg, run_dir: Path) -> dict[str, float]:
    """Seconds of each part of one trial, its epochs and its total."""
    import keras

    from diffexp.training.session import TrainingSession

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
    keras.backend.clear_session()  # as the pool worker does after answering (untimed)
    gc.collect()
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
    cfg = ctx.train_cfg(dict(size.warm_trial_overrides))
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    loads: list[float] = []
    was_enabled = worker_cache.enabled()
    worker_cache.clear()
    try:
        for index in range(int(size.warm_trials) + 1):  # +1: the warm-up trial of each variant
            for name, cache_on in VARIANTS.items():
                worker_cache.enable(cache_on)
                run_dir = ctx.work_dir / "warm_trial" / f"{name}_{index}"
                timing = timed_trial(cfg, run_dir)
                if index > 0:
                    timings[name].append(timing)
                    loads.append(os.getloadavg()[0])
    finally:
        worker_cache.enable(was_enabled)
        worker_cache.clear()
    return {"figures": _figures(timings, ctx.device), "details": _details(ctx, timings, loads)}


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
        "trials": timings,
        "load_average_1m_median": statistics.median(loads) if loads else None,
    }
