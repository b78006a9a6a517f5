"""One real phase-1 sweep's timeline, read from its own records, for checking the replay.

`record_sweep` runs a small real sweep (`make phase1`'s command on 2 pool workers, a fresh
study, the sampler's configured seed, which the study's first sweeper uses as it is) and
`read_timeline` reads what it left:

- from the study storage: each trial's params, state, and when it was asked
  (`datetime_start`) and told (`datetime_complete`);
- from the trial folder (`trial_<number>/`): the first line of `train.log` (when the job began
  in its pool worker, the worker's pid and which of its jobs it was) and `metrics.jsonl` (each
  epoch's validation loss and cumulative training seconds).
Times are seconds after the study's first ask. The result is a small JSON-ready dict that
`benchmarks.timeline_check` turns into a curve table and compares with a replay.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

from benchmarks.replay_policies import search_sampler_args
from diffexp import phases
from diffexp.training import records

STUDY_NAME = "timeline"
JOB_LINE = re.compile(
    r"^\[(?P<time>[\d\- :,]+)\].*pool worker pid (?P<pid>\d+) runs job #\d+, its job (?P<job>\d+)"
)


def sweep_command(workdir: Path, n_trials: int, seed: int, overrides: list[str]) -> list[str]:
    """`make phase1`'s command (`diffexp.phases`) on 2 pool workers, its study and folders
    under `workdir`; `profile=` among `overrides` picks the budget."""
    options, rest = phases.parse_options(
        ["launcher=pool", f"output_dir={workdir / 'out'}", *overrides]
    )
    return [
        sys.executable,
        "-m",
        *phases.search("phase1", options, rest),
        f"profile.n_trials={n_trials}",
        "profile.n_jobs=2",
        f"seed={seed}",
        f"paths.study_storage=sqlite:///{workdir / 'study.db'}",
        f"hydra.sweeper.study_name={STUDY_NAME}",
        f"hydra.sweep.dir={workdir / 'sweep'}",
    ]


def record_sweep(workdir: Path, n_trials: int, seed: int, overrides: list[str]) -> dict[str, Any]:
    """Run the sweep in `workdir` (which must not hold an earlier one) and read its timeline."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=False)
    command = sweep_command(workdir, n_trials, seed, overrides)
    started = time.monotonic()
    process = subprocess.run(command, capture_output=True, text=True)
    (workdir / "sweep.log").write_text(process.stdout + process.stderr)
    if process.returncode != 0:
        raise RuntimeError(f"sweep failed (exit {process.returncode}); see {workdir}/sweep.log")
    timeline = read_timeline(f"sqlite:///{workdir / 'study.db'}", workdir / "sweep")
    timeline["meta"] = {
        "command": " ".join(["python", *command[1:]]).replace(str(workdir), "<workdir>"),
        "seed": seed,
        "sampler": search_sampler_args("phase1"),  # its TPE settings, for the replay
        "n_trials": n_trials,
        "workers": 2,
        "overrides": overrides,
        "sweep_wall_seconds": round(time.monotonic() - started, 2),
        "load_average_1m": os.getloadavg()[0],
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return timeline


def read_timeline(storage: str, sweep_dir: Path) -> dict[str, Any]:
    """The trials of study `STUDY_NAME` in `storage`, with their folders' records."""
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    zero = min(t.datetime_start for t in trials)
    return {
        "trials": [_trial(t, Path(sweep_dir) / f"trial_{t.number}", zero) for t in trials],
    }


def _trial(trial: optuna.trial.FrozenTrial, folder: Path, zero: datetime) -> dict[str, Any]:
    job = _job_line(folder / "train.log")
    rows = records.read_metrics(folder)
    return {
        "number": trial.number,
        "params": dict(trial.params),
        "state": trial.state.name,
        "asked": _seconds(trial.datetime_start, zero),
        "told": _seconds(trial.datetime_complete, zero),
        "job_started": _seconds(job["time"], zero) if job else None,
        "worker_pid": job["pid"] if job else None,
        "worker_job": job["job"] if job else None,
        "val_loss": [float(r["val_loss"]) for r in rows],
        "training_seconds": [float(r["training_time_seconds"]) for r in rows],
    }


def _job_line(log: Path) -> dict[str, Any] | None:
    """When the job began in its worker, the worker's pid and the job's place in it."""
    if not log.is_file():
        return None
    for line in log.read_text().splitlines():
        match = JOB_LINE.match(line)
        if match:
            stamp = datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f")
            return {"time": stamp, "pid": int(match["pid"]), "job": int(match["job"])}
    return None


def _seconds(moment: datetime | None, zero: datetime) -> float | None:
    return None if moment is None else round((moment - zero).total_seconds(), 3)
