"""`python -m benchmarks.record_curves [--configs N] [--search phase1] [key=value ...]`:
record the learning-curve table the replay simulator (`benchmarks.replay`) replays.

N configurations of a search space (`conf/search/<search>.yaml` or a .yaml path, its
`hydra.sweeper.params`) are drawn by a scrambled Sobol sequence (scipy.stats.qmc), so a few
dozen points cover the space evenly; each is trained once, in this process, as a warm pool
worker trains a trial (the in-memory data cache on, Keras' session cleared between trials).
For every trial the table keeps each epoch's validation loss and wall seconds, its graph
shape (a digest of `diffexp.training.trainer_cache.shape_key`), the trial's start-up (data,
model build, writes: everything outside its epochs but the compile) and its compile (the first
epoch's excess over the later ones); once per table, a fresh worker's start-up (a Python
process importing TensorFlow and diffexp), which a process-per-trial launcher pays per trial.

The file (benchmarks/data/curves_<profile>.json by default) carries its schema version,
the profile and overrides, the git commit and how long recording took. Any training
override (`profile=cluster`, `trainer.steps_per_epoch=100`) goes to the trials.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import diffexp.runtime  # noqa: F401 - sets TensorFlow's log level before it is imported
from diffexp.config import CONF_DIR
from diffexp.errors import ConfigError, UserError, report_user_error
from diffexp.io_utils import atomic_write_text

SCHEMA_VERSION = 1
DATA_DIR = Path(__file__).parent / "data"
CONF_SEARCH = CONF_DIR / "search"
CHECKOUT = Path(__file__).resolve().parent.parent
IMPORT_PROBE = "import diffexp.runtime, tensorflow, diffexp.training.session"


def search_file(search: str) -> Path:
    """`conf/search/<search>.yaml`, or `search` itself when it is a .yaml path (relative to
    the checkout): a space recorded only for the replay need not become a `search=` option."""
    if search.endswith(".yaml"):
        path = Path(search) if Path(search).is_absolute() else CHECKOUT / search
    else:
        path = CONF_SEARCH / f"{search}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"--search {search}: no {path}; name a file of conf/search/ or a .yaml path"
        )
    return path


def search_distributions(search: str) -> dict[str, Any]:
    """The Optuna distributions of a search file's `hydra.sweeper.params` (`search_file`),
    parsed as the sweeper parses them (Hydra's override grammar, the official sweeper's
    conversion)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra_plugins.hydra_optuna_sweeper._impl import create_optuna_distribution_from_override
    from omegaconf import OmegaConf

    path = search_file(search)
    params = OmegaConf.to_container(OmegaConf.load(path).hydra.sweeper.params)
    parser = OverridesParser.create()
    return {
        key: create_optuna_distribution_from_override(parser.parse_override(f"{key}={value}"))
        for key, value in params.items()
    }


def sobol_configurations(distributions: dict[str, Any], n: int, seed: int) -> list[dict]:
    """`n` points of a scrambled Sobol sequence mapped onto the distributions: a log interval
    uniformly in log space, a choice by equal slices of [0, 1)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from scipy.stats import qmc

    names = list(distributions)
    points = qmc.Sobol(d=len(names), scramble=True, seed=seed).random(n)
    configurations = []
    for row in points:
        config = {}
        for name, u in zip(names, row, strict=True):
            dist = distributions[name]
            if isinstance(dist, CategoricalDistribution):
                config[name] = dist.choices[min(int(u * len(dist.choices)), len(dist.choices) - 1)]
            elif isinstance(dist, FloatDistribution | IntDistribution):
                low, high = (
                    (math.log(dist.low), math.log(dist.high)) if dist.log else (dist.low, dist.high)
                )
                value = low + float(u) * (high - low)
                value = math.exp(value) if dist.log else value
                config[name] = int(round(value)) if isinstance(dist, IntDistribution) else value
            else:
                raise ConfigError(f"search space {name}: {type(dist).__name__} is not recordable")
        configurations.append(config)
    return configurations


def record_trial(cfg, run_dir: Path) -> dict[str, Any]:
    """Train one configuration as a warm worker does; its curve and where its time went."""
    import keras

    from benchmarks import epochs
    from diffexp.training import records
    from diffexp.training.session import TrainingSession

    started = time.perf_counter()
    session = TrainingSession(cfg, run_dir)
    trainer = session.build_trainer()
    built = time.perf_counter()
    error = None
    try:
        result = trainer.fit()
        session.write_summary(trainer, result.stop_reason)
    except Exception as failure:  # a diverged trial is data too: its curve up to the failure
        error = f"{type(failure).__name__}: {(str(failure).splitlines() or [''])[0][:200]}"
    ended = time.perf_counter()
    rows = records.read_metrics(run_dir)
    keras.backend.clear_session()
    cumulative = [0.0] + [float(r["training_time_seconds"]) for r in rows]
    epoch_seconds = [b - a for a, b in zip(cumulative, cumulative[1:], strict=False)]
    compile_seconds = epochs.first_epoch_excess(rows)
    total = ended - started
    return {
        "shape": shape_id(cfg),
        "val_loss": [float(r["val_loss"]) for r in rows],
        "epoch_seconds": [
            round(s - (compile_seconds if i == 0 else 0.0), 4) for i, s in enumerate(epoch_seconds)
        ],
        "startup_seconds": round(total - cumulative[-1], 4),
        "compile_seconds": round(compile_seconds, 4),
        "build_seconds": round(built - started, 4),
        "error": error,
    }


def shape_id(cfg) -> str:
    """A short digest of the trainer cache's shape key: trials with the same one share a
    warm worker's compiled trainer, so the replay charges the compile to the first of them."""
    import hashlib

    from diffexp.training import trainer_cache

    return hashlib.sha1(trainer_cache.shape_key(cfg).encode()).hexdigest()[:12]


def fresh_worker_seconds() -> float:
    """Seconds a new Python process takes to import TensorFlow and diffexp's trainer."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORT_PROBE], check=True, capture_output=True)
    return round(time.perf_counter() - started, 3)


def table_header(cfg, search: str, overrides: list[str], seed: int, distributions) -> dict:
    """What identifies a table: a resumed recording must match it (`resumable_trials`)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "profile": str(cfg.profile.name),
        "overrides": list(overrides),
        "epochs": int(cfg.trainer.epochs),
        "steps_per_epoch": int(cfg.trainer.steps_per_epoch),
        "batch_size": int(cfg.trainer.batch_size),
        "search": search,
        "space": {name: repr(dist) for name, dist in distributions.items()},
        "sampling": f"scrambled Sobol (scipy.stats.qmc), seed {seed}",
    }


def resumable_trials(out: Path, header: dict, configurations: list[dict]) -> tuple[list, dict]:
    """The trials an unfinished recording at `out` already holds, and its file, when it was
    recorded with the same header and its trials are the first configurations of this one's
    Sobol sequence (a prefix of a scrambled Sobol sequence is the same for any length);
    otherwise none. A recording that stops (a deadline, a reboot) resumes where it stopped."""
    if not out.is_file():
        return [], {}
    try:
        previous = json.loads(out.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"--out {out}: not JSON ({error}); delete it or name another file"
        ) from error
    if any(previous.get(key) != value for key, value in header.items()):
        raise ConfigError(
            f"--out {out}: recorded with other settings (profile, overrides, space or seed); "
            "delete it or name another file"
        )
    trials = list(previous.get("trials", []))[: len(configurations)]
    for index, trial in enumerate(trials):
        if trial["params"] != configurations[index]:
            raise ConfigError(f"--out {out}: trial {index} is not this Sobol point; delete it")
    return trials, previous


def write_table(out: Path, table: dict[str, Any]) -> None:
    """Replace `out` whole (a temporary file renamed over it), so a stop mid-write keeps the
    previous version."""
    atomic_write_text(out, json.dumps(table, indent=1) + "\n")


def record(
    n_configs: int, search: str, overrides: list[str], seed: int, out: Path | None
) -> tuple[dict[str, Any], Path]:
    """Record the table (see the module docstring) into `out`, rewritten after every
    configuration, so whatever is recorded when it stops is a usable table ("complete":
    false); rerunning the same command resumes it."""
    from diffexp import runtime
    from diffexp.config import compose_checked
    from diffexp.training import environment, worker_cache

    started = time.perf_counter()
    cfg = compose_checked(list(overrides))
    runtime.configure_threads(cfg.runtime.threads)
    distributions = search_distributions(search)
    configurations = sobol_configurations(distributions, n_configs, seed)
    header = table_header(cfg, search, overrides, seed, distributions)
    out = out or DATA_DIR / f"curves_{header['profile']}.json"
    trials, previous = resumable_trials(out, header, configurations)
    earlier_seconds = float(previous.get("recording_seconds", 0.0))
    loads = [v for v in previous.get("load_average_1m", {}).values() if v is not None]
    fresh = previous.get("fresh_worker_seconds") or fresh_worker_seconds()

    def table() -> dict[str, Any]:
        return {
            **header,
            "configs_planned": n_configs,
            "complete": len(trials) == n_configs,
            "git_commit": environment.git_commit(),
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "recording_seconds": round(earlier_seconds + time.perf_counter() - started, 1),
            "load_average_1m": {"min": min(loads, default=None), "max": max(loads, default=None)},
            "cpu_count": os.cpu_count(),
            "fresh_worker_seconds": fresh,
            "trials": trials,
        }

    was_enabled = worker_cache.enabled()
    worker_cache.enable(True)  # as a warm pool worker keeps its data; restored below
    try:
        with tempfile.TemporaryDirectory(prefix="record_curves_") as scratch:
            for index in range(len(trials), n_configs):
                params = configurations[index]
                overridden = [*overrides, *(f"{k}={v}" for k, v in params.items())]
                trial_dir = Path(scratch) / f"trial_{index}"
                trial = {"params": params, **record_trial(compose_checked(overridden), trial_dir)}
                trials.append(trial)
                loads.append(os.getloadavg()[0])
                write_table(out, table())
                best = min(trial["val_loss"], default=math.nan)
                print(f"[{index + 1}/{n_configs}] {params} best {best:.4f}", flush=True)
    finally:
        worker_cache.enable(was_enabled)
        worker_cache.clear()
    final = table()
    write_table(out, final)
    return final, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=64, help="configurations (a power of 2)")
    parser.add_argument(
        "--search", default="phase1", help="conf/search/<name>.yaml, or a .yaml path"
    )
    parser.add_argument("--seed", type=int, default=0, help="Sobol scrambling seed")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: data/curves_<profile>.json"
    )
    parser.add_argument("overrides", nargs="*", help="training overrides, e.g. profile=cluster")
    args = parser.parse_args(argv)
    try:
        table, out = record(args.configs, args.search, args.overrides, args.seed, args.out)
    except UserError as error:
        return report_user_error(error)
    print(f"written: {out} ({len(table['trials'])} trials, {table['recording_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
