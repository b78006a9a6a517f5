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

SWEEPER_NAME = "diffexp_optuna"


@dataclass
class DiffexpOptunaSweeperConf(OptunaSweeperConf):
    _target_: str = "hydra_plugins.diffexp_sweeper.sweeper.DiffexpOptunaSweeper"
    pruner: Any | None = None  # e.g. {_target_: optuna.pruners.MedianPruner}; needs a reporter
    cap_n_jobs_to_cores: bool = True  # local launchers: n_jobs at most the CPU cores
    fix_best_of: str | None = None  # staged search: fix the best params of this study
    heartbeat_interval: int = 20  # s between a running trial's heartbeats
    grace_period: int = 120  # s without a heartbeat before a trial is FAIL "heartbeat lost"
    retry_failed_trials: int = 0  # times a trial failed that way is re-run with its parameters


ConfigStore.instance().store(
    group="hydra/sweeper",
    name=SWEEPER_NAME,
    node=DiffexpOptunaSweeperConf,
    provider="diffexp",
)
