"""Section: a file larger than memory (issue 20, item 4). Writes an HDF5 file of
`streaming_events` events x 128 PMTs (10 M: ~5 GB of float32) in chunks, never whole in
memory, and trains one epoch on it streamed (`data.streaming=true`) in a process of its own;
before it, in the same way, one epoch of the same model and batch on a file of
`streaming_memory_events` events (1 M) loaded whole: the in-memory throughput of this
machine. Figures: each process's peak resident memory and events/s, and their ratio.

The events are the simulator's (a base of BASE_EVENTS, each chunk a fresh permutation of
it: simulating 10 M events would take longer than training on them; the training throughput
does not depend on which events they are). Both runs use model.prior=none: the learned light
model would be fitted on the whole 900 k-event split in memory but on a 50 k subsample
streamed, which is not the comparison this section makes (tests/data/test_streaming.py checks
the streamed light model). The file is deleted when the section ends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from benchmarks import stats
from benchmarks.context import BenchContext
from diffexp.data import simulate_events

BASE_EVENTS = 20000  # simulated once; the file repeats them, each chunk shuffled anew
WRITE_CHUNK_EVENTS = 100_000  # events generated and written at a time (51 MB at 128 PMTs)
WARMUP_STEPS = 20  # untimed steps that compile the step loop (two steps_per_execution calls)
GB = 1024**3


def write_event_file(path: Path, n_events: int, base, seed: int) -> Path:
    """An HDF5 file of `n_events` rows drawn from `base` (an EventSet), written a chunk at a
    time: never more than WRITE_CHUNK_EVENTS rows in memory."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as handle:
        charges = handle.create_dataset("charges", (n_events, base.n_pmt), "f4")
        conditions = handle.create_dataset("conditions", (n_events, base.n_conditions), "f4")
        handle["condition_names"] = np.array(base.condition_names, dtype="S")
        for start in range(0, n_events, WRITE_CHUNK_EVENTS):
            stop = min(start + WRITE_CHUNK_EVENTS, n_events)
            rows = rng.integers(0, base.n_events, stop - start)
            charges[start:stop] = base.charges[rows]
            conditions[start:stop] = base.conditions[rows]
    return path


def _train_process(ctx: BenchContext, path: Path, streamed: bool, steps: int, jit: bool) -> dict:
    """One epoch of `steps` optimizer steps in `python -m benchmarks.streaming_run`."""
    run_dir = path.parent / f"run_{'streamed' if streamed else 'memory'}"
    overrides = [
        *ctx.config.train_overrides,
        "data=hdf5",
        f"data.path={path}",
        f"data.streaming={str(streamed).lower()}",
        "model.prior=none",
        "trainer.epochs=1",
        f"trainer.steps_per_epoch={steps}",
        f"trainer.jit_compile={str(jit).lower()}",
        f"paths.output_dir={path.parent / 'outputs'}",
    ]
    spec = {
        "overrides": overrides,
        "run_dir": str(run_dir),
        "warmup_steps": WARMUP_STEPS,
        "threads": ctx.config.train.runtime.threads,
    }
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.streaming_run", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"streaming_run ({'streamed' if streamed else 'in memory'}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _epoch_steps(n_events: int, val_fraction: float, batch: int) -> int:
    n_train = n_events - int(round(n_events * val_fraction))
    return max(n_train // batch, WARMUP_STEPS + 1)


def run(ctx: BenchContext) -> dict:
    from diffexp.training.trainer import resolve_jit_compile

    size, cfg = ctx.size, ctx.config.train
    n_events = int(size.streaming_events)
    n_memory = min(int(size.streaming_memory_events), n_events)
    batch, val_fraction = int(cfg.trainer.batch_size), float(cfg.data.val_fraction)
    streamed_steps = _epoch_steps(n_events, val_fraction, batch)
    memory_steps = _epoch_steps(n_memory, val_fraction, batch)
    cap = size.get("streaming_max_steps")
    full_epoch = cap is None or int(cap) >= streamed_steps
    if cap is not None:  # a shorter run on the same file: the same steps on both sides
        streamed_steps = min(streamed_steps, max(int(cap), WARMUP_STEPS + 1))
        memory_steps = min(memory_steps, streamed_steps)
    jit = resolve_jit_compile(cfg.trainer.jit_compile, streamed_steps)  # the same for both
    base = simulate_events(cfg.data, min(BASE_EVENTS, n_events), ctx.seed)
    folder = Path(tempfile.mkdtemp(prefix="streaming_", dir=ctx.work_dir))
    try:
        big = write_event_file(folder / "events.h5", n_events, base, ctx.seed)
        small = write_event_file(folder / "events_in_memory.h5", n_memory, base, ctx.seed)
        file_bytes = big.stat().st_size
        memory = _train_process(ctx, small, False, memory_steps, jit)
        streamed = _train_process(ctx, big, True, streamed_steps, jit)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    device = ctx.device
    ratio = streamed["events_per_second"] / memory["events_per_second"]
    figures = {
        "streamed_peak_rss_gb": stats.figure([streamed["peak_rss_bytes"] / GB], "GB", device),
        "in_memory_peak_rss_gb": stats.figure([memory["peak_rss_bytes"] / GB], "GB", device),
        "streamed_events_per_second": stats.figure(
            [streamed["events_per_second"]], "events/s", device
        ),
        "in_memory_events_per_second": stats.figure(
            [memory["events_per_second"]], "events/s", device
        ),
        "streamed_vs_in_memory": stats.figure([ratio], "x", device),
    }
    details = {
        "events": n_events,
        "in_memory_events": n_memory,
        "file_gb": round(file_bytes / GB, 3),
        "streamed_steps": streamed_steps,
        "in_memory_steps": memory_steps,
        "streamed_whole_epoch": full_epoch,
        "batch_size": batch,
        "jit_compile": jit,
        "streamed": streamed,
        "in_memory": memory,
    }
    return {"figures": figures, "details": details}
