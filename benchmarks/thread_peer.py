"""`python -m benchmarks.thread_peer --storage URL --study-name NAME --sweep-dir DIR
--n-trials N --n-jobs J [--sampler shipped|shared] [training overrides ...]`: the original
note's own parallel recipe, as a peer in the tuning benchmark. One process imports TensorFlow
once and runs `study.optimize(objective, n_jobs=J)`: Optuna's threads share the process (and
its TensorFlow thread pools), each trial trains in-process and reports every epoch to the
note's median pruner (`conf/hydra/sweeper/pruner/median.yaml`: 5 start-up trials, 3 warm-up
epochs). It searches phase 1's space (`conf/search/phase1.yaml`) with TPE seeded by `seed`:
Optuna's defaults, as the recipe creates its study (`--sampler shipped`), or phase 1's
settings (`--sampler shared`), which leaves how trials are run the only difference from
diffexp's sweep.

Why a module of its own rather than a Hydra sweeper: this is what a user writes without
Hydra, a plain Optuna script; the benchmark runs it in a subprocess, like the other peers, so
its start-up (imports, data) is timed the same way.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import diffexp.runtime  # noqa: F401 - sets TensorFlow's log level before it is imported
from diffexp import runtime
from diffexp.config import CONF_DIR, compose_checked

PHASE1_SEARCH = ("hydra/sweeper=optuna", "search=phase1")
PRUNER_CONFIG = CONF_DIR / "hydra" / "sweeper" / "pruner" / "median.yaml"
SAMPLER_MODES = ("shipped", "shared")  # Optuna's default TPE, or phase 1's settings
_COMPOSE_LOCK = threading.Lock()  # Hydra's compose API keeps global state: one thread at a time
_PLOT_LOCK = threading.Lock()  # matplotlib's mathtext parser is shared and not thread-safe

log = logging.getLogger("benchmarks.thread_peer")


def search_space(overrides: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Optuna distributions, fixed values) of phase 1's `hydra.sweeper.params`, converted
    by the same code as diffexp's sweeper (which uses the official conversion)."""
    from diffexp.tuning.sweeper.search_space import distributions_from_overrides, param_lines

    cfg = compose_checked([*overrides, *PHASE1_SEARCH], with_hydra=True)
    distributions, fixed, _ = distributions_from_overrides(param_lines(cfg.hydra.sweeper.params))
    return distributions, fixed


def suggest(trial, name: str, distribution) -> Any:
    """One value of `distribution` through Optuna's public suggest API."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    raise TypeError(f"{name}: unsupported distribution {type(distribution).__name__}")


def make_objective(overrides: list[str], sweep_dir: Path):
    """The objective of one trial: compose its config, train in this process with the
    trial's reporter (which raises TrialPruned), return the best validation loss."""
    from diffexp.training.session import TrainingSession
    from diffexp.tuning.trial.reporter import TrialReporter

    distributions, fixed = search_space(overrides)

    def objective(trial) -> float:
        values = {name: suggest(trial, name, d) for name, d in distributions.items()}
        values.update(fixed)
        trial_overrides = [*overrides, *(f"{key}={value}" for key, value in values.items())]
        with _COMPOSE_LOCK:
            cfg = compose_checked(trial_overrides)
        session = TrainingSession(cfg, sweep_dir / str(trial.number))
        return float(session.run(TrialReporter(trial)).best_val_loss)

    return objective


def serialize_curve_plots() -> None:
    """Make the trainer's curve plot take a lock: two trials drawing at once corrupt
    matplotlib's shared mathtext parser (IndexError in pop_state, seen in this recipe's first
    run). A user of the recipe meets the same crash and needs the same lock."""
    from diffexp.training import records

    plot = records.plot_training_curves

    def locked(run_dir):
        with _PLOT_LOCK:
            return plot(run_dir)

    records.plot_training_curves = locked


def build_sampler(mode: str, seed: int):
    """The recipe's TPE: Optuna's defaults (`shipped`) or phase 1's settings (`shared`)."""
    import optuna

    from benchmarks.replay_policies import search_sampler_args

    if mode not in SAMPLER_MODES:
        raise ValueError(f"the sampler must be one of {SAMPLER_MODES}, not {mode!r}")
    settings = search_sampler_args("phase1") if mode == "shared" else {}
    return optuna.samplers.TPESampler(seed=seed, **settings)


def run_study(
    storage: str,
    study_name: str,
    sweep_dir: Path,
    n_trials: int,
    n_jobs: int,
    overrides: list[str],
    sampler_mode: str = "shipped",
) -> None:
    import optuna
    from omegaconf import OmegaConf

    from diffexp.tuning.pruners import build_pruner

    cfg = compose_checked(overrides)
    runtime.configure_threads(cfg.runtime.threads)
    serialize_curve_plots()
    sampler = build_sampler(sampler_mode, int(cfg.seed))
    pruner = build_pruner(OmegaConf.to_container(OmegaConf.load(PRUNER_CONFIG)))
    study = optuna.create_study(
        storage=storage, study_name=study_name, sampler=sampler, pruner=pruner, direction="minimize"
    )
    study.optimize(make_objective(overrides, sweep_dir), n_trials=n_trials, n_jobs=n_jobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study-name", required=True)
    parser.add_argument("--sweep-dir", required=True, type=Path)
    parser.add_argument("--n-trials", required=True, type=int)
    parser.add_argument("--n-jobs", required=True, type=int)
    parser.add_argument(
        "--sampler",
        choices=SAMPLER_MODES,
        default="shipped",
        help="Optuna's default TPE (shipped) or phase 1's TPE settings (shared)",
    )
    parser.add_argument("overrides", nargs="*", help="training config overrides, e.g. seed=3")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run_study(
        args.storage,
        args.study_name,
        args.sweep_dir,
        args.n_trials,
        args.n_jobs,
        args.overrides,
        args.sampler,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
