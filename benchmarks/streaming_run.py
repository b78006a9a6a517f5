"""`python -m benchmarks.streaming_run '<json>'`: one training process of the streaming section
(benchmarks/streaming_bench.py), measured from the inside: it prepares a run's data from an
event file as a training run does (streamed or loaded whole, as `data.streaming` says),
compiles the train step on a warm-up of `warmup_steps`, trains the rest of one epoch, scores
the validation set once, and prints one JSON line: events/s of the timed steps and the
process's peak resident memory (ru_maxrss, which counts everything it ever held at once).

A process of its own, so that its peak memory is its own and not the benchmark's."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def measure(spec: dict) -> dict:
    from diffexp import runtime

    runtime.configure_threads(spec.get("threads"))
    from diffexp.config import compose_checked
    from diffexp.training.preparation import prepare_data
    from diffexp.training.trainer import Trainer

    cfg = compose_checked(list(spec["overrides"]))
    runtime.seed_everything(int(cfg.seed))
    started = time.perf_counter()
    data = prepare_data(cfg)
    prepare_seconds = time.perf_counter() - started
    trainer = Trainer.from_config(cfg, data, Path(spec["run_dir"]))
    warmup, total = int(spec["warmup_steps"]), int(cfg.trainer.steps_per_epoch)
    for n in trainer.chunk_sizes(warmup):  # compiles the step loop (and, streamed, its shapes)
        trainer.train_steps(n)
    started = time.perf_counter()
    losses = [trainer.train_steps(n)[0] for n in trainer.chunk_sizes(total - warmup)]
    train_seconds = time.perf_counter() - started
    val_loss = trainer.validator.validate()
    batch = int(cfg.trainer.batch_size)
    return {
        "streamed": data.stream is not None,
        "n_train": data.n_train,
        "n_val": data.n_val,
        "timed_steps": total - warmup,
        "batch_size": batch,
        "jit_compile": trainer.settings.jit_compile,
        "events_per_second": (total - warmup) * batch / train_seconds,
        "train_seconds": train_seconds,
        "prepare_seconds": prepare_seconds,
        "last_train_loss": losses[-1],
        "val_loss": val_loss,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(json.dumps(measure(json.loads(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
