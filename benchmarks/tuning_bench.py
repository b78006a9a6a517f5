"""Section 6: the tuning comparison. One study run four ways on this machine, side by side,
repeated over several sweeper seeds and summarised:

1. sequential: diffexp's sweeper, one trial at a time, no pruning;
2. threads: the note's own recipe, `study.optimize(objective, n_jobs)` in one process with the
   median pruner (`benchmarks.thread_peer`);
3. batched: the official hydra-optuna-sweeper (batches of `n_jobs`, no pruning);
4. diffexp: asynchronous slots with the median pruner.

Each is a real command in a subprocess with its own storage; the figures are read from the
storages (trial start/end times) and the subprocess wall time, and time to quality
(`benchmarks.quality`) from when each completed trial was told to the storage. Called by
`make bench`. The batched run gets the same DIFFEXP_THREADS as diffexp's trials, so the ratio
measures batching and pruning, not thread oversubscription.

What the three other peers search with (`PEER_SAMPLERS`): `shipped` (the bench's default) gives
each its tool's own TPE settings, with Optuna's 10 random start-up trials (the official
sweeper's `tpe` option; `TPESampler()` in the threads recipe), as a user of that tool runs it;
diffexp keeps phase 1's (2 start-up trials, constant liar), chosen by replaying recorded
curves. `shared` gives all four phase 1's settings, so the ratio measures only how each runs
trials. The search space, pruner (the note's median pruner for threads and diffexp) and
budget are the same either way.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from benchmarks import quality, stats
from benchmarks.context import BenchContext
from benchmarks.epochs import share_outside_epochs
from benchmarks.quality_plot import PLOT_FILE, plot_time_to_quality
from benchmarks.thread_peer import SAMPLER_MODES as PEER_SAMPLERS
from diffexp.names import RUN_CONFIG_FILE
from diffexp.runtime import THREADS_ENV, available_cores
from diffexp.training.records import read_metrics

MODES = ("sequential", "batched", "diffexp")  # the three Hydra sweeps of compare_sweeps
PEERS = ("sequential", "threads", "batched", "diffexp")  # what the section compares
DIFFEXP_TRAIN = [sys.executable, "-m", "diffexp.train", "search=phase1"]
THREAD_PEER = [sys.executable, "-m", "benchmarks.thread_peer"]
OPTUNA_DEFAULT_SAMPLER = "hydra/sweeper/sampler=tpe"  # the official sweeper's TPE option


def compare_sweeps(
    workdir: Path,
    n_trials: int = 20,
    n_jobs: int | None = None,
    command: list[str] | None = None,
    extra_overrides: tuple[str, ...] = (),
    pruner_overrides: tuple[str, ...] = (),
    timeout_s: float = 7200,
    launcher: str | Mapping[str, str] = "submitit_local",
    profile: str = "smoke",
    peer_samplers: str = "shipped",
) -> dict[str, Any]:
    """Run the three sweeps and return {mode: figures} plus the ratios against sequential.

    `pruner_overrides` (e.g. hydra.sweeper.pruner.n_warmup_steps=1) apply to the diffexp run
    only; the other two do not prune. `launcher` (a conf/hydra/launcher option) runs all three:
    `submitit_local` (a fresh process per trial) or `pool` (warm worker processes); a mapping
    {mode: launcher} gives each mode its own, e.g. each as its users would run it (sequential
    in-process with `basic`, the official sweeper's batches as `submitit_local` processes).
    `profile` sizes the trials of diffexp's own train command (conf/profile/); a given
    `command` is used as it is. `peer_samplers` (`PEER_SAMPLERS`): what sequential and batched
    search with, their tool's defaults (`shipped`) or diffexp's (`shared`).
    """
    launchers = {mode: launcher for mode in MODES} if isinstance(launcher, str) else dict(launcher)
    workdir = Path(workdir).resolve()
    slots = n_jobs or min(4, available_cores())
    train = list(command) if command else [*DIFFEXP_TRAIN, f"profile={profile}"]
    base = train + [f"profile.n_trials={n_trials}", *extra_overrides]
    figures = {
        mode: _run_mode(
            mode,
            base
            + [f"hydra/launcher={launchers[mode]}"]
            + peer_sampler_overrides(mode, peer_samplers)
            + (list(pruner_overrides) if mode == "diffexp" else []),
            workdir,
            slots,
            timeout_s,
        )
        for mode in MODES
    }
    sequential = figures["sequential"]["wall_seconds"]
    return {
        "n_trials": n_trials,
        "n_jobs": slots,
        "launchers": launchers,
        "cores": available_cores(),
        "peer_samplers": peer_samplers,
        **figures,
        "speedup_batched_vs_sequential": sequential / figures["batched"]["wall_seconds"],
        "speedup_diffexp_vs_sequential": sequential / figures["diffexp"]["wall_seconds"],
        "speedup_diffexp_vs_batched": figures["batched"]["wall_seconds"]
        / figures["diffexp"]["wall_seconds"],
    }


def peer_sampler_overrides(mode: str, peer_samplers: str) -> list[str]:
    """Overrides that give a Hydra peer its sampler: the official sweeper's `tpe` option
    (Optuna's 10 start-up trials) for the peers other than diffexp when `shipped`, none (the
    search file's) otherwise."""
    if peer_samplers not in PEER_SAMPLERS:
        raise ValueError(f"peer_samplers must be one of {PEER_SAMPLERS}, not {peer_samplers!r}")
    if peer_samplers == "shipped" and mode != "diffexp":
        return [OPTUNA_DEFAULT_SAMPLER]
    return []


def _mode_overrides(mode: str, slots: int) -> list[str]:
    if mode == "sequential":
        return ["-m", "hydra/sweeper=optuna", "hydra/sweeper/pruner=none", "profile.n_jobs=1"]
    if mode == "batched":
        return ["-m", "hydra/sweeper=optuna_official", f"profile.n_jobs={slots}"]
    return ["-m", "hydra/sweeper=optuna", f"profile.n_jobs={slots}"]


def _run_mode(mode: str, base: list[str], workdir: Path, slots: int, timeout_s: float):
    storage = f"sqlite:///{workdir / f'{mode}.db'}"
    study_name = f"bench_{mode}"
    command = (
        base
        + _mode_overrides(mode, slots)
        + [
            f"paths.study_storage={storage}",
            f"hydra.sweeper.study_name={study_name}",
            f"hydra.sweep.dir={workdir / f'{mode}_sweep'}",
        ]
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    in_flight = 1 if mode == "sequential" else slots
    env[THREADS_ENV] = str(max(1, available_cores() // in_flight))
    wall, started_at = _timed_run(mode, command, env, workdir, timeout_s)
    study = optuna.load_study(study_name=study_name, storage=storage)
    return {
        "wall_seconds": wall,
        **study_figures(study),
        **job_figures(workdir / f"{mode}_sweep", in_flight),
        "timeline": quality.completed_timeline(study.get_trials(deepcopy=False), started_at),
    }


def _timed_run(
    mode: str, command: list[str], env: dict, workdir: Path, timeout_s: float
) -> tuple[float, datetime]:
    """(wall seconds, local start time) of `command`; its output goes to <workdir>/<mode>.log.
    The start is local wall-clock time because Optuna stamps trials with it."""
    workdir.mkdir(parents=True, exist_ok=True)
    started_at, started = datetime.now(), time.monotonic()
    process = subprocess.run(
        command, cwd=os.getcwd(), env=env, capture_output=True, text=True, timeout=timeout_s
    )
    wall = time.monotonic() - started
    (workdir / f"{mode}.log").write_text(process.stdout + process.stderr)
    if process.returncode != 0:
        raise RuntimeError(
            f"bench {mode} sweep failed (exit {process.returncode}); see {workdir / f'{mode}.log'}"
        )
    return wall, started_at


def run_thread_peer(
    workdir: Path,
    n_trials: int,
    n_jobs: int,
    train_overrides: list[str],
    timeout_s: float = 7200,
    peer_samplers: str = "shipped",
) -> dict[str, Any]:
    """The note's recipe (`benchmarks.thread_peer`) on the same study budget; its idle slot
    share comes from the storage's trial start and completion times, which are exact for an
    in-process study (no batch is told late). `peer_samplers` as in `compare_sweeps`."""
    workdir = Path(workdir).resolve()
    storage = f"sqlite:///{workdir / 'threads.db'}"
    command = [
        *THREAD_PEER,
        f"--storage={storage}",
        "--study-name=bench_threads",
        f"--sweep-dir={workdir / 'threads_sweep'}",
        f"--n-trials={n_trials}",
        f"--n-jobs={n_jobs}",
        f"--sampler={peer_samplers}",
        *train_overrides,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env[THREADS_ENV] = str(available_cores())  # one process: its threads share the pools
    wall, started_at = _timed_run("threads", command, env, workdir, timeout_s)
    study = optuna.load_study(study_name="bench_threads", storage=storage)
    trials = study.get_trials(deepcopy=False)
    spans = [
        (
            (t.datetime_start - started_at).total_seconds(),
            (t.datetime_complete - started_at).total_seconds(),
        )
        for t in trials
        if t.datetime_start and t.datetime_complete
    ]
    return {
        "wall_seconds": wall,
        **study_figures(study),
        "idle_slot_fraction": quality.idle_share(spans, n_jobs),
        "timeline": quality.completed_timeline(trials, started_at),
    }


def study_figures(study: optuna.Study) -> dict[str, Any]:
    """Best value and state counts, from the storage."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return {
        "best_value": min(t.value for t in complete) if complete else None,
        "complete": len(complete),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
    }


def job_figures(sweep_dir: Path, slots: int) -> dict[str, Any]:
    """Fraction of slot time left idle, from the trial folders' file times.

    Not from the storage: the official sweeper tells a whole batch at once, so its trials'
    completion times there hide the wait for the slowest. A job starts when Hydra writes
    `.hydra/config.yaml` and ends with the last file it writes.
    """
    spans, outside = [], []
    for config in sweep_dir.glob(f"*/{RUN_CONFIG_FILE}"):
        folder = config.parent.parent
        end = max(p.stat().st_mtime for p in folder.rglob("*") if p.is_file())
        spans.append((config.stat().st_mtime, end))
        share = _outside_training_share(folder, end - config.stat().st_mtime)
        if share is not None:
            outside.append(share)
    if not spans:
        return {"trial_seconds_total": 0.0, "sweep_span_seconds": 0.0, "idle_slot_fraction": 0.0}
    busy = sum(end - start for start, end in spans)
    span = max(end for _, end in spans) - min(start for start, _ in spans)
    idle = 1.0 - busy / (slots * span) if span > 0 else 0.0
    return {
        "trial_seconds_total": busy,
        "sweep_span_seconds": span,
        "idle_slot_fraction": min(1.0, max(0.0, idle)),
        "trial_outside_training_share": statistics.median(outside) if outside else None,
    }


def _outside_training_share(trial_dir: Path, span: float) -> float | None:
    """Share of a trial's span (its folder's first to last file) spent outside its epochs, the
    first epoch's compilation counted as outside; None for a trial without epochs (or a
    command that writes no metrics file, like the tests' tiny app)."""
    return share_outside_epochs(read_metrics(trial_dir), span)


def run(ctx: BenchContext) -> dict:
    """Each seed runs the four peers in turn (the three Hydra sweeps, then the thread recipe),
    so a burst of load on the shared machine falls on all of them alike, seed after seed."""
    size = ctx.size
    peer_samplers = str(size.tuning_peer_samplers)
    per_seed = []
    for index in range(int(size.tuning_seeds)):
        seed = ctx.seed + index
        folder = ctx.work_dir / "tuning" / f"seed_{seed}"
        overrides = (f"seed={seed}", *size.tuning_overrides)
        result = compare_sweeps(
            folder,
            n_trials=int(size.tuning_trials),
            extra_overrides=overrides,
            launcher=dict(size.tuning_launchers),
            profile=str(size.tuning_profile),
            peer_samplers=peer_samplers,
        )
        result["threads"] = run_thread_peer(
            folder,
            int(size.tuning_trials),
            result["n_jobs"],
            [f"profile={size.tuning_profile}", *overrides],
            peer_samplers=peer_samplers,
        )
        result["quality"] = quality.compare_peers({p: result[p] for p in PEERS}, "diffexp")
        result["seed"] = seed
        per_seed.append(result)
    plot = plot_time_to_quality(
        per_seed, PEERS, [r["quality"]["bar"] for r in per_seed], ctx.work_dir / PLOT_FILE
    )
    details = {
        "runs": per_seed,
        "plot": str(plot),
        "peers": list(PEERS),
        "peer_samplers": peer_samplers,
    }
    return {"available": True, "figures": summarise(per_seed), "details": details}


def summarise(per_seed: list[dict]) -> dict:
    """Median, min and max over seeds of the ratios, best values and idle slot fractions."""
    figures = {
        "speedup_vs_sequential": stats.figure(
            [r["speedup_diffexp_vs_sequential"] for r in per_seed], "x", "CPU"
        ),
        "speedup_vs_batched": stats.figure(
            [r["speedup_diffexp_vs_batched"] for r in per_seed], "x", "CPU"
        ),
    }
    for mode in [p for p in PEERS if p in per_seed[0]]:
        figures[f"{mode}_wall_seconds"] = stats.figure(
            [r[mode]["wall_seconds"] for r in per_seed], "s", "CPU"
        )
        best = [r[mode]["best_value"] for r in per_seed if r[mode]["best_value"] is not None]
        if best:
            figures[f"{mode}_best_value"] = stats.figure(best, "loss", "CPU")
        figures[f"{mode}_idle_slot_fraction"] = stats.figure(
            [r[mode]["idle_slot_fraction"] for r in per_seed], "fraction", "CPU"
        )
    shares = [
        r["diffexp"]["trial_outside_training_share"]
        for r in per_seed
        if r["diffexp"].get("trial_outside_training_share") is not None
    ]
    if shares:  # a trial in a warm pool worker: no process start or imports of its own
        figures["diffexp_trial_outside_training_share"] = stats.figure(shares, "fraction", "CPU")
    figures["diffexp_pruned_trials"] = stats.figure(
        [r["diffexp"]["pruned"] for r in per_seed], "trials", "CPU"
    )
    if all("quality" in r for r in per_seed):
        figures.update(quality_figures(per_seed))
    return figures


def quality_figures(per_seed: list[dict]) -> dict:
    """Time to quality and best value at the common budget per peer, medians over seeds. A
    peer that never reached the bar in a seed is left out of its time's median and counted in
    `<peer>_reached_quality`."""
    figures = {
        "time_to_quality_vs_best_peer": stats.figure(
            [r["quality"]["speedup_vs_best_peer"] for r in per_seed], "x", "CPU"
        ),
        "budget_seconds": stats.figure(
            [r["quality"]["budget_seconds"] for r in per_seed], "s", "CPU"
        ),
    }
    for peer in PEERS:
        times = [r["quality"]["time_to_quality_seconds"][peer] for r in per_seed]
        reached = [t for t in times if t is not None]
        if reached:
            figures[f"{peer}_time_to_quality_seconds"] = stats.figure(reached, "s", "CPU")
        figures[f"{peer}_reached_quality"] = stats.figure([len(reached)], "seeds", "CPU")
        at_budget = [r["quality"]["best_at_budget"][peer] for r in per_seed]
        at_budget = [v for v in at_budget if v is not None]
        if at_budget:
            figures[f"{peer}_best_at_budget"] = stats.figure(at_budget, "loss", "CPU")
        figures[f"{peer}_trials_finished"] = stats.figure(
            [r[peer]["complete"] + r[peer]["pruned"] + r[peer]["failed"] for r in per_seed],
            "trials",
            "CPU",
        )
    return figures
