"""Section 4: the same train step under float32 and mixed precision. Keras' global dtype
policy is read when layers are built, so it is set before each model and restored after;
mixed_float16 is only measured on a GPU (CPUs emulate float16)."""

from __future__ import annotations

import keras

from benchmarks import stats
from benchmarks.context import BenchContext
from diffexp import runtime


def policies(gpu: bool) -> list[str]:
    return ["float32", "mixed_bfloat16", *(["mixed_float16"] if gpu else [])]


def run(ctx: BenchContext) -> dict:
    size = ctx.size
    batch, steps = int(size.precision_batch_size), int(size.precision_steps)
    previous = keras.mixed_precision.global_policy().name
    trainers = {}
    try:
        for policy in policies(runtime.gpu_available()):
            keras.mixed_precision.set_global_policy(policy)
            trainers[policy] = ctx.trainer(
                f"precision_{policy}",
                {"trainer.batch_size": batch, "optimizer.accumulation_steps": 1},
            )
    finally:
        keras.mixed_precision.set_global_policy(previous)

    def runner(trainer):
        def train() -> None:
            for _ in range(steps):
                trainer.train_step()

        return train

    seconds = stats.interleaved_seconds(
        {name: runner(t) for name, t in trainers.items()}, int(size.warmup), int(size.repeats)
    )
    rate = {name: stats.rates(steps * batch, s) for name, s in seconds.items()}
    device = ctx.device
    figures = {
        f"{name}_samples_per_second": stats.figure(values, "samples/s", device)
        for name, values in rate.items()
    }
    for name in trainers:
        if name != "float32":
            figures[f"{name}_vs_float32"] = stats.figure(
                stats.ratios(rate[name], rate["float32"]), "x", device
            )
    details = {"batch_size": batch, "policies": list(trainers)}
    return {"figures": figures, "details": details}
