"""Hydra's own config (`hydra.*`) names Python code: callbacks, launcher, sweeper, sampler,
pruner, logging handlers and factories, `custom_search_space`. Hydra's built-in block-list
misses most of it, so every path that instantiates or imports is held to an allow-list, here,
before Hydra starts (the entrypoints call `check_hydra_config` on the composed config); the
same targets are `EXECUTION_WHITELIST`, which `@hydra.main` enforces inside Hydra as well.
The job config may hold no `_target_` at all (config_checks).

Each refusal is one ConfigError line naming the key and what is allowed there.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from diffexp.errors import ConfigError

LAUNCHERS = (
    "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "hydra_plugins.diffexp_pool_launcher.launcher.PoolLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
    "hydra_plugins.diffexp_slurm_launcher.launcher.DiffexpSlurmLauncher",
)
SWEEPERS = (
    "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
    "hydra_plugins.diffexp_sweeper.sweeper.DiffexpOptunaSweeper",
    "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",
)
SAMPLER_PACKAGE = "optuna.samplers"
PRUNER_PACKAGE = "optuna.pruners"
LOGGING_CLASSES = ("logging.StreamHandler", "logging.FileHandler", "logging.Formatter")
LOGGING_STREAMS = ("ext://sys.stdout", "ext://sys.stderr")

# `@hydra.main(execution_whitelist=...)`: what Hydra itself may instantiate or configure.
EXECUTION_WHITELIST = (
    *LAUNCHERS,
    *SWEEPERS,
    f"{SAMPLER_PACKAGE}.*",
    f"{PRUNER_PACKAGE}.*",
    *LOGGING_CLASSES,
)

# Where a `_target_` may stand in `hydra.*`, and what it may name there.
_TARGETS = {
    "hydra.launcher": LAUNCHERS,
    "hydra.sweeper": SWEEPERS,
}
_TARGET_PACKAGES = {
    "hydra.sweeper.sampler": SAMPLER_PACKAGE,
    "hydra.sweeper.pruner": PRUNER_PACKAGE,
}


def _refuse(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} is refused: it would run code; allowed: {allowed}")


def _check_target(where: str, target: Any) -> None:
    key = f"{where}._target_"
    if where in _TARGETS:
        if target not in _TARGETS[where]:
            raise _refuse(key, target, ", ".join(_TARGETS[where]))
    elif where in _TARGET_PACKAGES:
        package = _TARGET_PACKAGES[where]
        name = str(target)
        if not (name.startswith(f"{package}.") and name.count(".") == package.count(".") + 1):
            raise _refuse(key, target, f"a class of {package}")
    else:
        raise _refuse(key, target, f"no _target_ under {where}")


def _walk(node: Any, where: str):
    """(key path, key, value) of every entry below `node`, unresolved."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}"
            yield path, str(key), value
            yield from _walk(value, path)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}[{index}]")


def _check_logging(where: str, config: Any) -> None:
    """A logging dictConfig: the `()` factory key and `.` properties are refused, a `class`
    must be one of the standard handlers/formatters, an `ext://` value a standard stream."""
    for path, key, value in _walk(config, where):
        if key in ("()", "."):
            raise _refuse(path, value, f"no '{key}' key in logging config")
        if key == "class" and value not in LOGGING_CLASSES:
            raise _refuse(path, value, ", ".join(LOGGING_CLASSES))
        if isinstance(value, str) and value.startswith("ext://") and value not in LOGGING_STREAMS:
            raise _refuse(path, value, ", ".join(LOGGING_STREAMS))


def check_hydra_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first entry of `cfg.hydra` that would run code diffexp does
    not ship: a callback, a launcher/sweeper/sampler/pruner target off the allow-list, a
    `custom_search_space`, a logging factory, or a `_target_` anywhere else."""
    hydra = OmegaConf.select(cfg, "hydra")
    if hydra is None:
        return
    tree = OmegaConf.to_container(hydra, resolve=False)
    callbacks = tree.get("callbacks") or {}
    for name, value in callbacks.items():
        raise _refuse(f"hydra.callbacks.{name}", _target_of(value), "no Hydra callbacks")
    for logging_key in ("job_logging", "hydra_logging"):
        _check_logging(f"hydra.{logging_key}", tree.get(logging_key))
    search_space = (tree.get("sweeper") or {}).get("custom_search_space")
    if search_space is not None:
        raise _refuse("hydra.sweeper.custom_search_space", search_space, "null")
    for path, key, value in _walk(tree, "hydra"):
        if key == "_target_":
            _check_target(path.rsplit(".", 1)[0], value)


def _target_of(value: Any) -> Any:
    return value.get("_target_", value) if isinstance(value, dict) else value
