"""Section 7: how much of a real `python -m diffexp.train` process is spent outside training
and validation (interpreter start, imports, data, graph compilation, artifacts).

The trainer's training_time_seconds (last metrics.jsonl row) covers the epochs, validation
included; the rest of the process wall time is overhead, and so is the first epoch's excess
over a later one (graph compilation happens there). The time to start Python and import
TensorFlow and diffexp is measured on its own, so the note can say where the rest goes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import epochs, stats
from benchmarks.context import BenchContext
from diffexp import names
from diffexp.training import records

# The imports of a training process in the order its entry point makes them: TensorFlow first
# through runtime.configure_threads (lean: see runtime.import_tensorflow), then the trainer.
IMPORTS = (
    "from diffexp import runtime; import diffexp.train; runtime.configure_threads(None); "
    "import diffexp.training.session, diffexp.training.trainer"
)


def _timed(command: list[str], timeout_s: float) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s)
    return time.perf_counter() - started, done


def train_command(ctx: BenchContext, run_dir: Path) -> list[str]:
    cfg = ctx.config.train
    return [
        sys.executable,
        "-m",
        "diffexp.train",
        *ctx.config.train_overrides,
        f"paths.output_dir={ctx.work_dir / 'overhead'}",
        f"paths.cache_dir={Path(cfg.paths.cache_dir).resolve()}",
        f"hydra.run.dir={run_dir}",
    ]


def run(ctx: BenchContext, timeout_s: float = 1800) -> dict:
    size = ctx.size
    walls, trainings, validations, imports, compiles, outside = [], [], [], [], [], []
    for index in range(int(size.overhead_repeats)):
        import_wall, done = _timed([sys.executable, "-c", IMPORTS], timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"importing diffexp failed: {done.stderr.strip()[-500:]}")
        run_dir = ctx.work_dir / "overhead" / f"trial_{index}"
        wall, done = _timed(train_command(ctx, run_dir), timeout_s)
        if done.returncode != 0:
            raise RuntimeError(
                f"python -m diffexp.train failed ({done.returncode}): {done.stderr.strip()[-500:]}"
            )
        rows = records.read_metrics(run_dir)
        if not rows:
            raise RuntimeError(f"{run_dir}/{names.METRICS_FILE} is empty after the run")
        outside.append(epochs.share_outside_epochs(rows, wall))
        imports.append(import_wall)
        walls.append(wall)
        trainings.append(float(rows[-1]["training_time_seconds"]))
        compiles.append(epochs.first_epoch_excess(rows))
        validations.append(sum(float(r["validation_seconds"]) for r in rows))
    figures = {
        "process_wall_seconds": stats.figure(walls, "s", "CPU"),
        "training_seconds": stats.figure(trainings, "s", ctx.device),
        "validation_seconds": stats.figure(validations, "s", ctx.device),
        "outside_training_share": stats.figure(outside, "fraction", ctx.device),
        "first_epoch_excess_seconds": stats.figure(compiles, "s", ctx.device),
        "start_and_import_share": stats.figure(
            [i / w for i, w in zip(imports, walls, strict=True)], "fraction", "CPU"
        ),
        "validation_share": stats.figure(
            [v / w for v, w in zip(validations, walls, strict=True)], "fraction", ctx.device
        ),
    }
    details = {
        "profile": str(ctx.config.train.profile.name),
        "command": " ".join(train_command(ctx, ctx.work_dir / "overhead" / "trial_N")[1:]),
        "epochs": len(rows),
        "steps_per_epoch": int(ctx.config.train.trainer.steps_per_epoch),
        "batch_size": int(ctx.config.train.trainer.batch_size),
    }
    return {"figures": figures, "details": details}
