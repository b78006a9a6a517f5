"""Hydra entry point of diffexp's Optuna sweeper (registered in pyproject.toml).

Same config and constructor as the official hydra-optuna-sweeper 1.4.0rc3 (`sampler`,
`direction`, `storage`, `study_name`, `n_trials`, `n_jobs`, `max_failure_rate`,
`custom_search_space`, `params`, in that order) plus `pruner`, `cap_n_jobs_to_cores` and
`fix_best_of`, and the liveness keys `heartbeat_interval`, `grace_period`,
`retry_failed_trials`; the logic lives in
`diffexp.tuning.sweeper.async_sweeper`, imported lazily so Hydra's plugin scan stays fast.

This class is where Hydra calls into diffexp during a multirun, and Hydra prints a traceback
for any exception raised here. So each entry point turns diffexp's user errors (a bad search
space, an unreachable storage, too many failed trials) into one `diffexp: error:` line and
exit 2, as a single run does; a bug keeps its traceback.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from diffexp.errors import exit_on_user_error
from diffexp.tuning.liveness_policy import DEFAULT_LIVENESS

_SAMPLER_TARGETS = ("hydra_plugins.hydra_optuna_sweeper.*", "optuna.samplers.*")


class DiffexpOptunaSweeper(Sweeper):
    """Optuna sweeper: `n_jobs` asynchronous slots, pruning from inside each trial's job."""

    def __init__(
        self,
        sampler: Any,
        direction: Any,
        storage: Any | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        custom_search_space: str | None = None,
        params: DictConfig | None = None,
        pruner: Any | None = None,
        cap_n_jobs_to_cores: bool = True,
        fix_best_of: str | None = None,
        heartbeat_interval: int = DEFAULT_LIVENESS.interval,
        grace_period: int = DEFAULT_LIVENESS.grace,
        retry_failed_trials: int = DEFAULT_LIVENESS.retries,
    ) -> None:
        from hydra.utils import instantiate

        from diffexp.config_checks import check_max_failure_rate
        from diffexp.errors import ConfigError
        from diffexp.tuning.liveness_policy import Liveness
        from diffexp.tuning.sampler_dependencies import check_sampler_dependencies
        from diffexp.tuning.sweeper.async_sweeper import AsyncOptunaSweeperImpl

        liveness = Liveness(int(heartbeat_interval), int(grace_period), int(retry_failed_trials))
        with exit_on_user_error():
            check_max_failure_rate(max_failure_rate)
            check_sampler_dependencies(sampler)
            try:
                liveness.check()
            except ValueError as error:
                raise ConfigError(str(error)) from None
        self.sweeper = AsyncOptunaSweeperImpl(
            sampler=instantiate(sampler, _execution_whitelist_=_SAMPLER_TARGETS),
            direction=direction,
            storage=storage,
            study_name=study_name,
            n_trials=n_trials,
            n_jobs=n_jobs,
            max_failure_rate=float(max_failure_rate),
            custom_search_space=custom_search_space,
            params=params,
            pruner=pruner,
            cap_n_jobs_to_cores=cap_n_jobs_to_cores,
            fix_best_of=fix_best_of,
            liveness=liveness,
            sampler_config=sampler,
            sampler_factory=lambda seed: instantiate(
                sampler, seed=seed, _execution_whitelist_=_SAMPLER_TARGETS
            ),
        )

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        with exit_on_user_error():
            return self.sweeper.sweep(arguments)
