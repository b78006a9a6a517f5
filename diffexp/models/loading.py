"""Load a finished training run (its config, normalisation and best weights) for generation,
with one-line errors for the ways a run folder can be unusable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
from omegaconf import DictConfig, OmegaConf

from diffexp.data import EventTransform
from diffexp.errors import UserError, first_line
from diffexp.models.denoiser import build_denoiser
from diffexp.models.noise_schedule import NoiseSchedule
from diffexp.names import BEST_WEIGHTS, TRANSFORM_FILE
from diffexp.names import RUN_CONFIG_FILE as CONFIG_FILE


class RunLoadError(UserError, ValueError):
    """A run folder that cannot be used for generation."""


@dataclass
class LoadedRun:
    cfg: DictConfig
    model: keras.Model
    schedule: NoiseSchedule
    transform: EventTransform
    run_dir: Path


def _require(path: Path, what: str, hint: str) -> Path:
    if not path.exists():
        raise RunLoadError(
            f"{path.parent if what != 'run folder' else path}: {what} missing ({hint})"
        )
    return path


def load_run(run_dir: str | Path) -> LoadedRun:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunLoadError(f"{run_dir}: no such run folder; pass run=outputs/runs/<run folder>")
    config_path = _require(run_dir / CONFIG_FILE, f"{CONFIG_FILE}", "not a diffexp run folder?")
    weights = _require(run_dir / BEST_WEIGHTS, BEST_WEIGHTS, "the run finished no epoch")
    transform_path = _require(run_dir / TRANSFORM_FILE, TRANSFORM_FILE, "not a diffexp run folder?")
    cfg = OmegaConf.load(config_path)
    transform = EventTransform.load(transform_path)
    # Generation runs in float32 whatever the training policy was; weights are float32 either way.
    keras.mixed_precision.set_global_policy("float32")
    model = build_denoiser(
        cfg.model, transform.n_pmt, len(transform.condition_names), prior_from_weights=True
    )
    try:
        model.load_weights(weights)
    except Exception as error:  # noqa: BLE001 - h5py and Keras raise many kinds here
        raise RunLoadError(
            f"{weights}: the weights do not match the model in {config_path} ({first_line(error)})"
        ) from error
    return LoadedRun(cfg, model, NoiseSchedule.from_config(cfg.diffusion), transform, run_dir)
