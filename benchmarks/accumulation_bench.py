"""Section 3: one optimizer step of accumulation_steps micro-batches against one step of the
whole batch: throughput and the peak memory each adds (see machine.peak_memory_mib)."""

from __future__ import annotations

from benchmarks import machine, stats
from benchmarks.context import BenchContext


def run(ctx: BenchContext) -> dict:
    size = ctx.size
    batch, accumulation = int(size.accumulation_batch_size), int(size.accumulation_steps)
    steps = int(size.accumulation_repeat_steps)
    trainers = {
        "accumulated": ctx.trainer(
            "accumulated",
            {"trainer.batch_size": batch, "optimizer.accumulation_steps": accumulation},
        ),
        "single": ctx.trainer(
            "single", {"trainer.batch_size": batch, "optimizer.accumulation_steps": 1}
        ),
    }
    memory: dict[str, list[float]] = {name: [] for name in trainers}

    def runner(name: str):
        trainer = trainers[name]

        def train() -> None:
            def steps_of() -> None:
                for _ in range(steps):
                    trainer.train_step()

            peak = machine.peak_memory_mib(steps_of)
            if peak is not None:
                memory[name].append(peak)

        return train

    seconds = stats.interleaved_seconds(
        {name: runner(name) for name in trainers}, int(size.warmup), int(size.repeats)
    )
    rate = {name: stats.rates(steps * batch, seconds[name]) for name in trainers}
    device = ctx.device
    figures = {
        "accumulated_samples_per_second": stats.figure(rate["accumulated"], "samples/s", device),
        "single_samples_per_second": stats.figure(rate["single"], "samples/s", device),
        "throughput_ratio": stats.figure(
            stats.ratios(rate["accumulated"], rate["single"]), "x", device
        ),
    }
    timed = int(size.repeats)
    for name in trainers:
        values = memory[name][-timed:]
        if values:
            figures[f"{name}_peak_memory_mib"] = stats.figure(values, "MiB", device)
    details = {
        "batch_size": batch,
        "accumulation_steps": accumulation,
        "micro_batch_size": batch // accumulation,
        "peak_memory_method": machine.peak_memory_method(),
    }
    return {"figures": figures, "details": details}
