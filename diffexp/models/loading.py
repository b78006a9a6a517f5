"""Load a finished training run (its config, normalisation and best weights) for generation,
with one-line errors for the ways a run folder can be unusable."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import keras
from omegaconf import DictConfig, OmegaConf

from diffexp.data import EventTransform
from diffexp.errors import UserError, first_line
from diffexp.models.denoiser import build_denoiser
from diffexp.models.noise_schedule import NoiseSchedule
from diffexp.models.plugin_api import DenoiserSpec
from diffexp.models.plugin_checks import check_output
from diffexp.names import BEST_WEIGHTS, SUMMARY_FILE, TRANSFORM_FILE
from diffexp.names import RUN_CONFIG_FILE as CONFIG_FILE
from diffexp.registry import denoiser_entry, installed_denoisers
from diffexp.security import saved_config_problem


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


# A run folder may come from elsewhere: what it records is shown only if it reads as a
# package name and a version (PEP 508 / 440 characters), never run.
_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]{0,49}")


def _recorded_package(run_dir: Path) -> str | None:
    """`package==version` of the denoiser the run's summary records, or None."""
    try:
        recorded = json.loads((run_dir / SUMMARY_FILE).read_text())["denoiser"]
        package, version = str(recorded["package"]), str(recorded["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _PACKAGE.fullmatch(package) and _VERSION.fullmatch(version):
        return f"{package}=={version}"
    return None


def _require_denoiser(run_dir: Path, name: str) -> None:
    """A run whose denoiser no installed package declares: one line naming the package (and
    version) the run records having been built by."""
    if name in installed_denoisers():
        return
    package = _recorded_package(run_dir)
    install = (
        f"install {package}, which the run records it was built by (pip install {package})"
        if package
        else f"install the package that declares denoiser {name!r} (docs/models.md)"
    )
    raise RunLoadError(f"{run_dir}: its denoiser {name!r} is not installed here; {install}")


def load_run(run_dir: str | Path) -> LoadedRun:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunLoadError(f"{run_dir}: no such run folder; pass run=outputs/runs/<run folder>")
    config_path = _require(run_dir / CONFIG_FILE, f"{CONFIG_FILE}", "not a diffexp run folder?")
    weights = _require(run_dir / BEST_WEIGHTS, BEST_WEIGHTS, "the run finished no epoch")
    transform_path = _require(run_dir / TRANSFORM_FILE, TRANSFORM_FILE, "not a diffexp run folder?")
    cfg = OmegaConf.load(config_path)
    problem = saved_config_problem(cfg)  # a run folder from elsewhere is data (security.py)
    if problem is not None:
        raise RunLoadError(f"{config_path}: {problem}; not loaded")
    _require_denoiser(run_dir, str(cfg.model.name))
    transform = EventTransform.load(transform_path)
    # Generation runs in float32 whatever the training policy was; weights are float32 either way.
    keras.mixed_precision.set_global_policy("float32")
    spec = DenoiserSpec(transform.n_pmt, len(transform.condition_names), prior_from_weights=True)
    model = build_denoiser(cfg.model, spec.n_pmt, spec.n_conditions, prior_from_weights=True)
    try:
        model.load_weights(weights)
    except Exception as error:  # noqa: BLE001 - h5py and Keras raise many kinds here
        raise RunLoadError(
            f"{weights}: the weights do not match the model in {config_path} ({first_line(error)})"
        ) from error
    check_output(model, denoiser_entry(str(cfg.model.name)), spec)
    return LoadedRun(cfg, model, NoiseSchedule.from_config(cfg.diffusion), transform, run_dir)
