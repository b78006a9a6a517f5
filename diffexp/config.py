"""Config composition, on the ground floor: the conf/ folder, its group options, composing a
config as Hydra will (validated, with one-line errors), and reading and writing the parts of
an override line. Every layer and every entrypoint composes through here; it imports Hydra
and OmegaConf, never the rest of diffexp above `errors` and `config_checks`."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir, initialize_config_search_path
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from diffexp.config_checks import Tree, tree_of, validate_tree
from diffexp.errors import ConfigError, first_line

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def initialized(config_dir: str | None = None):
    """Hydra initialized on diffexp's conf/ and, with `--config-dir`, the user's own folder
    after it, where `python -m diffexp.<verb> --config-dir=...` puts it: the user's groups
    (their model/*.yaml, search/*.yaml) join diffexp's; `hydra.searchpath` works as in Hydra."""
    if config_dir is None:
        return initialize_config_dir(str(CONF_DIR))
    folder = os.path.abspath(config_dir)
    if not os.path.isdir(folder):
        raise ConfigError(f"--config-dir={config_dir}: no such folder; give a folder of configs")
    return initialize_config_search_path([f"file://{CONF_DIR}", f"file://{folder}"])


def override_key(line: str) -> str:
    """The config key an override line sets: `+a.b=1`, `++a.b=1`, `~a.b` and `a.b=1` all
    give `a.b`; a group choice `schedule=cyclical` gives `schedule`."""
    return line.split("=", 1)[0].lstrip("+~")


def hydra_value(value: Any) -> str:
    """Render a value so Hydra's override parser reads back the same value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _needs_quotes(text):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def _needs_quotes(text: str) -> bool:
    """Strings Hydra would parse as another type or split at a special character."""
    if text == "" or text.lower() in {"null", "true", "false", "nan", "inf", "-inf"}:
        return True
    try:
        float(text)
        return True
    except ValueError:
        pass
    return any(ch in text for ch in " ,[]{}()='\"\\:$")


def group_options(group: str) -> list[str]:
    """The options of config group `group` (`conf/<group>/*.yaml`), sorted."""
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def describe_compose_error(error: Exception) -> str:
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, option = str(error.missing_cfg_file).rpartition("/")
        options = group_options(group)
        if options:
            return (
                f"unknown option {option!r} for config group {group!r}; "
                f"allowed: {', '.join(options)}"
            )
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("Could not override"):
        return f"{lines[0].rstrip('.')}: no such key in the config ({' '.join(lines[1:2])})"
    if len(lines) > 1 and lines[0].endswith(":"):  # "... raised while composing config:" + why
        return f"{lines[0]} {lines[1]}"
    return lines[0] if lines else type(error).__name__


def compose_checked(
    overrides: list[str],
    config_name: str = "config",
    with_hydra: bool = False,
    config_dir: str | None = None,
) -> DictConfig:
    """Compose the job config as Hydra will, and validate it; raise ConfigError.
    `with_hydra` keeps the `hydra` node (run folder) for the writability check;
    `config_dir`: the user's `--config-dir`."""
    try:
        with initialized(config_dir):
            return compose_validated(overrides, config_name, with_hydra)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(describe_compose_error(error)) from error


def compose_validated(
    overrides: list[str],
    config_name: str = "config",
    with_hydra: bool = False,
    validate: Callable[[Tree], None] = validate_tree,
) -> DictConfig:
    """`compose_checked` inside an initialized Hydra (to compose many variants at once);
    `validate`: the entrypoint's rules for its composed job config, resolved (`tree_of`)."""
    try:
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException, ValueError) as error:
        raise ConfigError(describe_compose_error(error)) from error
    validate_job(OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"]), validate)
    return cfg


def validate_job(job_cfg: DictConfig, validate: Callable[[Tree], None] = validate_tree) -> None:
    """`validate` of the resolved job config; an OmegaConf error (a bad interpolation) is a
    one-line ConfigError."""
    try:
        validate(tree_of(job_cfg))
    except OmegaConfBaseException as error:
        raise ConfigError(first_line(error)) from error


def compose_plain(overrides: list[str], config_name: str) -> DictConfig:
    """Compose and resolve a config that is not a training job's (e.g. conf/bench.yaml):
    no job validation; raise ConfigError with Hydra's first line."""
    try:
        with initialize_config_dir(str(CONF_DIR)):
            cfg = compose(config_name=config_name, overrides=overrides)
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(first_line(error)) from error
    return cfg
