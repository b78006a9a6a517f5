"""Runs the chosen sections in order and writes the results. A section that fails is
recorded with its error and the others still run, so one broken part never hides the rest."""

from __future__ import annotations

import gc
import logging
import os
import time
import traceback
from datetime import datetime
from pathlib import Path

from benchmarks import machine, report, targets
from benchmarks.config import BenchConfig
from diffexp import runtime
from diffexp.registry import denoiser_entry

log = logging.getLogger("benchmarks")


def _section_runner(name: str):
    from benchmarks import (
        accumulation_bench,
        overhead_bench,
        precision_bench,
        replay_bench,
        sampling_bench,
        storage_load,
        streaming_bench,
        throughput_bench,
        tuning_bench,
        validation_bench,
        warm_trial_bench,
    )

    return {
        "validation": validation_bench.run,
        "throughput": throughput_bench.run,
        "accumulation": accumulation_bench.run,
        "precision": precision_bench.run,
        "sampling": sampling_bench.run,
        "tuning": tuning_bench.run,
        "overhead": overhead_bench.run,
        "warm_trial": warm_trial_bench.run,
        "replay": replay_bench.run,
        "streaming": streaming_bench.run,
        "storage_load": storage_load.run,
    }[name]


def new_work_dir(output_dir: Path) -> tuple[Path, str]:
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    folder = Path(output_dir) / stamp
    suffix = 1
    while folder.exists():
        folder = Path(output_dir) / f"{stamp}_{suffix}"
        suffix += 1
    folder.mkdir(parents=True)
    return folder, stamp


def run_bench(config: BenchConfig, print_table: bool = True) -> dict:
    """Measure every configured section; write results.json and results.md; return results."""
    runtime.configure_threads(config.train.runtime.threads)  # the first TensorFlow import
    import keras

    from benchmarks.context import BenchContext
    from diffexp.training import environment

    work_dir, stamp = new_work_dir(Path(config.bench.bench.output_dir))
    results = {
        "size": str(config.bench.bench.size),
        "timestamp": stamp,
        "machine": machine.describe(),
        "package_versions": environment.package_versions(),
        "git_commit": environment.git_commit(),
        "profile": str(config.train.profile.name),
        "train_overrides": list(config.train_overrides),
        "denoiser": denoiser_entry(str(config.train.model.name)).provenance(),  # the model measured
        "warmup": int(config.size.warmup),
        "repeats": int(config.size.repeats),
        "sections": {},
    }
    ctx = BenchContext.prepare(config, work_dir)
    for name in config.sections:
        started = time.perf_counter()
        log.info("bench: %s ...", name)
        try:
            section = _section_runner(name)(ctx)
        except Exception as error:  # recorded in the results; the other sections still run
            log.error("bench section %s failed:\n%s", name, traceback.format_exc())
            first_line = (str(error).splitlines() or [""])[0][:200]
            section = {"error": f"{type(error).__name__}: {first_line}"}
        section["seconds"] = round(time.perf_counter() - started, 2)
        results["sections"][name] = section
        keras.backend.clear_session()
        gc.collect()
    results["load_average_1m_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results["targets"] = targets.judge(results["sections"], config.targets)
    json_path, md_path = report.write(results, work_dir)
    if print_table:
        print(report.markdown(results))
        print(f"written: {json_path}\n         {md_path}")
    return results
