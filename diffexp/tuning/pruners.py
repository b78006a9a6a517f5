"""Build the Optuna pruner from `hydra.sweeper.pruner`, in the sweeper and in every trial job.

The sweeper stores the pruner's config in the study (user attr `names.PRUNER_ATTR`), so a job,
which only learns the study name, storage and trial number, rebuilds the same pruner from the
shared storage. Instantiation is restricted to `optuna.pruners.*`: the config is user input.
"""

from __future__ import annotations

from typing import Any

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from diffexp.errors import ConfigError

_ALLOWED_TARGETS = "optuna.pruners.*"


def pruner_config_to_dict(config: DictConfig | dict[str, Any] | None) -> dict[str, Any]:
    """Plain dict of a pruner config; None (no pruner configured) means NopPruner."""
    if config is None:
        return {"_target_": "optuna.pruners.NopPruner"}
    if OmegaConf.is_config(config):
        return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]
    return dict(config)


def build_pruner(config: dict[str, Any]) -> optuna.pruners.BasePruner:
    """Instantiate a pruner config such as {"_target_": "optuna.pruners.MedianPruner", ...}."""
    target = str(config.get("_target_", ""))
    if not target.startswith("optuna.pruners."):
        raise ConfigError(
            f"hydra.sweeper.pruner._target_={target!r} is not an Optuna pruner; "
            "pick one with hydra/sweeper/pruner=none|median|percentile|successive_halving|hyperband"
        )
    pruner = instantiate(config, _execution_whitelist_=_ALLOWED_TARGETS)
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise ConfigError(f"hydra.sweeper.pruner._target_={target!r} did not build a pruner")
    return pruner
