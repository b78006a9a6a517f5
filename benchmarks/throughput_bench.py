"""Section 2: diffexp's compiled train step against `Model.fit` and an eager loop on the same
model, batch and optimizer, and the achieved GFLOP/s against this machine's matmul rate.

Two `fit` baselines: fit as first called (one step per call, no XLA: `vs_fit`, the old
figure) and the fair one (`vs_fit_fair`): the same steps_per_execution and jit_compile as the
trainer it is compared with, both for the default path (jit_compile=auto as the profile
resolves it) and with XLA on."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import baselines, flops, stats
from benchmarks.context import BenchContext


def run(ctx: BenchContext) -> dict:
    size = ctx.size
    batch = int(size.throughput_batch_size)
    steps, eager_steps = int(size.throughput_steps), int(size.eager_steps)
    changes = {"trainer.batch_size": batch, "optimizer.accumulation_steps": 1}
    cfg = ctx.train_cfg(changes)
    trainer = ctx.trainer("throughput", changes)
    xla_trainer = ctx.trainer("throughput_xla", {**changes, "trainer.jit_compile": True})

    def steps_of(t) -> Callable[[], None]:
        """`steps` optimizer steps the way fit runs them: chunks of steps_per_execution."""

        def run_steps() -> None:
            for n in t.chunk_sizes(steps):
                t.train_steps(n)

        return run_steps

    matmul, matmul_gflop = flops.matmul_runner(int(size.matmul_size), int(size.matmul_iterations))
    data = (cfg, ctx.data.train_x, ctx.data.train_c, batch, steps, ctx.seed, ctx.data.prior)
    candidates = {
        "diffexp": steps_of(trainer),
        "fit_fair": baselines.fit_runner(*data, *_fit_settings(trainer)),
        "diffexp_xla": steps_of(xla_trainer),
        "fit_fair_xla": baselines.fit_runner(*data, *_fit_settings(xla_trainer)),
        "fit": baselines.fit_runner(*data),
        "eager": baselines.eager_runner(
            cfg, ctx.data.train_x, ctx.data.train_c, batch, eager_steps, ctx.seed, ctx.data.prior
        ),
        "matmul": matmul,
    }
    seconds = stats.interleaved_seconds(candidates, int(size.warmup), int(size.repeats))
    diffexp_rate = stats.rates(steps * batch, seconds["diffexp"])
    xla_rate = stats.rates(steps * batch, seconds["diffexp_xla"])
    fit_rate = stats.rates(steps * batch, seconds["fit"])
    fair_rate = stats.rates(steps * batch, seconds["fit_fair"])
    fair_xla_rate = stats.rates(steps * batch, seconds["fit_fair_xla"])
    eager_rate = stats.rates(eager_steps * batch, seconds["eager"])
    gflop_per_sample = flops.training_gflop_per_sample(trainer.model)
    achieved = [r * gflop_per_sample for r in diffexp_rate]
    achieved_xla = [r * gflop_per_sample for r in xla_rate]
    matmul_rate = stats.rates(matmul_gflop, seconds["matmul"])
    device = ctx.device
    figures = {
        "diffexp_samples_per_second": stats.figure(diffexp_rate, "samples/s", device),
        "diffexp_xla_samples_per_second": stats.figure(xla_rate, "samples/s", device),
        "fit_samples_per_second": stats.figure(fit_rate, "samples/s", device),
        "eager_samples_per_second": stats.figure(eager_rate, "samples/s", device),
        "fit_fair_samples_per_second": stats.figure(fair_rate, "samples/s", device),
        "fit_fair_xla_samples_per_second": stats.figure(fair_xla_rate, "samples/s", device),
        "vs_fit": stats.figure(stats.ratios(diffexp_rate, fit_rate), "x", device),
        "vs_fit_fair": stats.figure(stats.ratios(diffexp_rate, fair_rate), "x", device),
        "xla_vs_fit_fair_xla": stats.figure(stats.ratios(xla_rate, fair_xla_rate), "x", device),
        "vs_eager": stats.figure(stats.ratios(diffexp_rate, eager_rate), "x", device),
        "xla_vs_default": stats.figure(stats.ratios(xla_rate, diffexp_rate), "x", device),
        "diffexp_gflops": stats.figure(achieved, "GFLOP/s", device),
        "matmul_gflops": stats.figure(matmul_rate, "GFLOP/s", device),
        "matmul_fraction": stats.figure(stats.ratios(achieved, matmul_rate), "fraction", device),
        "xla_matmul_fraction": stats.figure(
            stats.ratios(achieved_xla, matmul_rate), "fraction", device
        ),
    }
    details = {
        "batch_size": batch,
        "train_gflop_per_sample": gflop_per_sample,
        "parameter_count": trainer.parameter_count,
        "matmul_size": int(size.matmul_size),
        "jit_compile": trainer.settings.jit_compile,
        "steps_per_execution": trainer.settings.steps_per_execution,
    }
    return {"figures": figures, "details": details}


def _fit_settings(trainer) -> tuple[int, bool]:
    """(steps_per_execution, jit_compile) of `trainer`, for the fair `fit` beside it."""
    return trainer.settings.steps_per_execution, trainer.settings.jit_compile
