"""`python -m diffexp.train [overrides]`: compose the config, train one model, write its
artifacts into the Hydra run folder and return the best validation loss (the objective the
sweeper minimizes). With `-m hydra/sweeper=optuna` every trial of a study runs through here.
"""

from __future__ import annotations

import gc
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import diffexp.runtime  # noqa: F401 - sets TensorFlow's log level before it is imported
from diffexp import runtime
from diffexp.config_checks import validate_config
from diffexp.errors import UserError, exit_with_user_error, user_error_line
from diffexp.names import TUNING_TRIAL_NUMBER
from diffexp.precheck import CommandLine, precheck_or_exit, run_checked
from diffexp.security import EXECUTION_WHITELIST
from diffexp.training.memory_budget import check_memory
from diffexp.training.results import TrainResult

log = logging.getLogger("diffexp.train")


def run_directory() -> Path:
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    raise RuntimeError("run_directory() is only known inside a Hydra job")


def train(
    cfg: DictConfig, run_dir: Path, reporter=None, best_of: dict | None = None
) -> TrainResult:
    """Train one model as configured; artifacts go to run_dir. `best_of`: where the values of
    a `best_of=` run came from, for its summary."""
    from diffexp.training.session import TrainingSession

    session = TrainingSession(cfg, Path(run_dir), best_of=best_of)
    return session.run(reporter, sample_metric_of(cfg))


# The checkpoint is chosen on other conditions and noise than verify's (seed 777), so that
# phase 3 does not judge the weights on the very events that picked them.
CHECKPOINT_METRIC_SEED = 1777


def sample_metric_of(cfg: DictConfig) -> Callable | None:
    """trainer.checkpoint_metric=sample_auc: the headline classifier AUC of
    `trainer.sample_metric_events` generated events of a loaded run (lower is better); None
    when the validation loss chooses the checkpoint."""
    if cfg.trainer.checkpoint_metric != "sample_auc":
        return None
    from diffexp.verification.pipeline import sample_auc

    def metric(loaded) -> float:
        auc = sample_auc(
            loaded,
            n_events=int(cfg.trainer.sample_metric_events),
            seed=CHECKPOINT_METRIC_SEED,
            cache_dir=cfg.paths.cache_dir,
        )
        log.info("checkpoint metric: classifier AUC %.4f", auc)
        return auc

    return metric


def best_of_provenance(cfg: DictConfig) -> dict | None:
    """`best_of=<study>` (with the trial number `expand_best_of` fixed): the study, trial and
    each value with its origin (searched there, or fixed from an earlier study)."""
    if not cfg.best_of or cfg.best_of_trial is None:
        return None
    from diffexp.tuning.analysis.best_trial import trial_overrides

    storage = str(cfg.paths.study_storage)
    objective = cfg.get("best_of_objective")
    return trial_overrides(str(cfg.best_of), storage, int(cfg.best_of_trial), objective)[1]


def lr_range_test(cfg: DictConfig, run_dir: Path) -> float:
    from diffexp.training.session import TrainingSession

    return TrainingSession(cfg, Path(run_dir)).lr_range_test()


def _job(cfg: DictConfig) -> float:
    validate_config(cfg)
    # before TensorFlow starts its runtime, which reads the flag once (XLA compilations only)
    runtime.use_persistent_xla_cache(OmegaConf.select(cfg, "paths.xla_cache_dir"))
    check_memory(cfg)  # before anything is allocated: one line instead of the OOM killer
    run_dir = run_directory()
    runtime.configure_threads(cfg.runtime.threads)
    if cfg.trainer.lr_find:
        return lr_range_test(cfg, run_dir)
    best_of = best_of_provenance(cfg)
    objective_fn = objective_of(cfg, run_dir)
    if OmegaConf.select(cfg, TUNING_TRIAL_NUMBER) is None:  # a single run: no trial to bind
        objective = objective_fn(train(cfg, run_dir, None, best_of))
    else:
        from diffexp.tuning.trial.job import TrialJob

        objective = TrialJob.from_config(cfg, run_dir).run(
            lambda reporter: train(cfg, run_dir, reporter, best_of), objective_fn
        )
    values = objective if isinstance(objective, list) else [objective]
    if not all(math.isfinite(value) for value in values):
        log.warning("objective is not finite: %s", objective)
    return objective


def objective_of(cfg: DictConfig, run_dir: Path) -> Callable[[TrainResult], float | list[float]]:
    """`tuning.objective`: the validation loss, the sample quality of the finished run (the
    physics verification's classifier AUC on `tuning.sample_auc_events` generated events, so a
    search can rank by what phase 3 measures), or both for a two-objective study."""
    kind = str(cfg.tuning.objective)

    def objective(result: TrainResult) -> float | list[float]:
        if kind == "val_loss":
            return float(result.best_val_loss)
        from diffexp.models.loading import load_run
        from diffexp.verification.pipeline import sample_auc

        auc = sample_auc(
            load_run(run_dir),
            n_events=int(cfg.tuning.sample_auc_events),
            cache_dir=cfg.paths.cache_dir,
        )
        log.info(
            "sample quality: classifier AUC %.3f on %d events", auc, cfg.tuning.sample_auc_events
        )
        return auc if kind == "sample_auc" else [float(result.best_val_loss), auc]

    return objective


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(config_path="../conf", config_name="config", execution_whitelist=EXECUTION_WHITELIST)
def main(cfg: DictConfig) -> float:
    """A single run turns diffexp's user-facing errors (bad data, checkpoint, run folder,
    study, divergence, full or read-only disk) into one `diffexp: error:` line and exit 2
    instead of Hydra's traceback; bugs keep their traceback. A multirun job re-raises, so the
    sweeper records the trial FAIL with the reason."""
    try:
        return _job(cfg)
    except Exception as error:
        line = user_error_line(error)
        if line is None or _in_multirun():
            raise
        if not isinstance(error, OSError):  # a full disk cannot take the log line either
            log.error("%s", line)
    # Outside the except block the traceback is gone; collecting it now closes what its
    # frames held open (an h5py file that failed to write crashes at interpreter exit).
    gc.collect()
    exit_with_user_error(line)


def expand_best_of(argv: list[str], base: DictConfig | None = None) -> list[str]:
    """`best_of=<study>`: put the study's best trial's parameters before the user's own
    overrides (the user's win), so phase 2 trains exactly what phase 1 found. A multi-objective
    study gives its Pareto trial best in objective `best_of_objective` (0 by default). The
    study is data: only keys and values `best_trial` accepts come along (docs/security.md).
    `base`: the config the precheck composed from `argv` (composed here when not given)."""
    names = [arg.split("=", 1)[1] for arg in argv if arg.startswith("best_of=")]
    if not names or names[-1] in ("null", ""):
        return argv
    from diffexp.config import compose_checked, override_key
    from diffexp.tuning.analysis.best_trial import best_trial_overrides

    try:
        if base is None:
            base = compose_checked([a for a in argv if not a.startswith("-")])
        overrides, provenance = best_trial_overrides(
            names[-1], str(base.paths.study_storage), base.get("best_of_objective")
        )
    except UserError as error:
        exit_with_user_error(error)
    given = {override_key(arg) for arg in argv if "=" in arg}
    study_args = [f"{key}={value}" for key, value in overrides.items() if key not in given]
    log.info(
        "best_of=%s: trial %s (value %s): %s",
        names[-1],
        provenance["trial_number"],
        provenance["value"],
        " ".join(study_args),
    )
    rule = (
        f" (Pareto front, best in objective {provenance['objective']}: values "
        f"{provenance['values']})"
        if "rule" in provenance
        else ""
    )
    print(
        f"diffexp: training the best trial #{provenance['trial_number']} of study "
        f"{provenance['study_name']!r}{rule}: {' '.join(study_args)}",
        file=sys.stderr,
    )
    return study_args + [f"best_of_trial={provenance['trial_number']}"] + argv


def _with_best_of(command: CommandLine, cfg: DictConfig) -> tuple[CommandLine, DictConfig]:
    """`best_of=`: the study's values before the user's overrides, checked again with them."""
    overrides = expand_best_of(command.overrides, cfg)
    if overrides == command.overrides:
        return command, cfg
    return precheck_or_exit([*command.flags(), *overrides])


def _checked_for_training(command: CommandLine, cfg: DictConfig) -> tuple[CommandLine, DictConfig]:
    """`_with_best_of`, then a single run's `model.*` keys against its denoiser's builder, so a
    key the builder does not take stops before Hydra writes the run folder. (A sweep's trials
    check them when they build: importing Keras into the sweeper process is not worth it.)"""
    command, cfg = _with_best_of(command, cfg)
    try:
        check_memory(cfg)  # a sweep's fixed part here; each trial checks its own values
    except UserError as error:
        exit_with_user_error(error)
    if not command.multirun:
        from diffexp.models.denoiser import check_denoiser_keys

        try:
            check_denoiser_keys(cfg.model)  # imports the denoiser's package, as the run will
        except UserError as error:
            exit_with_user_error(error)
    return command, cfg


def cli() -> None:
    """Check the command line, expand `best_of=` and check again with the study's values,
    check a single run's denoiser keys, then run Hydra on what was checked."""
    logging.raiseExceptions = False  # a full disk must not print a traceback per log line
    run_checked(main, "config", expand=_checked_for_training)


if __name__ == "__main__":
    cli()
