"""Checks the command line before Hydra runs the job: an impossible override or an unknown
config group option stops with one line and a non-zero exit, before Hydra creates or
overwrites any run folder."""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from diffexp.config_checks import ConfigError, validate_config

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
EXIT_BAD_CONFIG = 2


def user_overrides(argv: list[str]) -> list[str] | None:
    """The override arguments, or None when Hydra should handle the command line alone
    (multirun sweeps, --cfg, --help, shell completion)."""
    if any(arg.startswith("-") for arg in argv):
        return None
    return list(argv)


def _group_options(group: str) -> list[str]:
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def describe_compose_error(error: Exception) -> str:
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, option = str(error.missing_cfg_file).rpartition("/")
        options = _group_options(group)
        if options:
            return (
                f"unknown option {option!r} for config group {group!r}; "
                f"allowed: {', '.join(options)}"
            )
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("Could not override"):
        return f"{lines[0].rstrip('.')}: no such key in the config ({' '.join(lines[1:2])})"
    return lines[0] if lines else type(error).__name__


def compose_checked(overrides: list[str], config_name: str = "config") -> DictConfig:
    """Compose the job config as Hydra will, and validate it; raise ConfigError."""
    try:
        with initialize_config_dir(str(CONF_DIR)):
            cfg = compose(config_name=config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException, ValueError) as error:
        raise ConfigError(describe_compose_error(error)) from error
    try:
        validate_config(cfg)
    except OmegaConfBaseException as error:
        raise ConfigError(str(error).strip().splitlines()[0]) from error
    return cfg


def precheck_or_exit(argv: list[str], config_name: str = "config") -> None:
    overrides = user_overrides(argv)
    if overrides is None:
        return
    try:
        compose_checked(overrides, config_name)
    except ConfigError as error:
        print(f"diffexp: error: {error}", file=sys.stderr)
        sys.exit(EXIT_BAD_CONFIG)
