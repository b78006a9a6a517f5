"""`hydra/sweeper=diffexp_optuna`: diffexp's sweeper for any Hydra app, no diffexp config needed.

The node is the official `OptunaSweeperConf` (same keys, same defaults, its `sampler` group)
with diffexp's `_target_` and its extra keys (pruning, core cap, staged search, liveness).
`pruner` defaults to none here: an app that never reports gives a pruner nothing to compare.
Hydra imports this module when it scans the `hydra_plugins` namespace, as it does the official
plugin's config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf

from diffexp.tuning.liveness_policy import DEFAULT_LIVENESS

SWEEPER_NAME = "diffexp_optuna"


@dataclass
class DiffexpOptunaSweeperConf(OptunaSweeperConf):
    _target_: str = "hydra_plugins.diffexp_sweeper.sweeper.DiffexpOptunaSweeper"
    pruner: Any | None = None  # e.g. {_target_: optuna.pruners.MedianPruner}; needs a reporter
    cap_n_jobs_to_cores: bool = True  # local launchers: n_jobs at most the CPU cores
    fix_best_of: str | None = None  # staged search: fix the best params of this study
    # liveness (diffexp.tuning.liveness_policy): s between a running trial's heartbeats, s
    # without one before it is FAIL "heartbeat lost", times such a trial is re-run
    heartbeat_interval: int = DEFAULT_LIVENESS.interval
    grace_period: int = DEFAULT_LIVENESS.grace
    retry_failed_trials: int = DEFAULT_LIVENESS.retries


ConfigStore.instance().store(
    group="hydra/sweeper",
    name=SWEEPER_NAME,
    node=DiffexpOptunaSweeperConf,
    provider="diffexp",
)
