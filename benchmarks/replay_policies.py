"""The search policies the replay compares, each built from the configs the sweepers use.

Samplers come from the official sweeper's structured configs (`hydra_optuna_sweeper.config`,
what `hydra/sweeper/sampler=tpe|random|qmc|gp` selects), diffexp's with the settings
`search=phase1` selects (`hydra/sweeper/sampler=tpe_async_start2`: constant liar, 2 start-up
trials); pruners from
`conf/hydra/sweeper/pruner/<name>.yaml` through diffexp's own `build_pruner`. So a policy here
is what a user gets from the same config.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import optuna
from omegaconf import OmegaConf

from benchmarks import replay_syne_tune
from benchmarks.replay import Overheads
from benchmarks.replay_promotion import Promotion
from diffexp.config import CONF_DIR

PRUNER_DIR = CONF_DIR / "hydra" / "sweeper" / "pruner"
DEFAULT_POLICY = "diffexp_median"  # phase 1's defaults: TPE as search=phase1 sets it + median
# the other tools a user could run instead: the targets compare the default with the best of
# them (the Syne Tune ones only where it is installed: `make install-synetune`)
PEER_POLICIES = (
    "sequential_random",
    "threads_recipe",
    "official_batches",
    "synetune_asha",
    "synetune_hyperband",
    "synetune_bohb",
)
SAMPLER_TARGETS = "optuna.samplers.*"  # as the sweeper instantiates its sampler
WARM_POOL = Overheads(fresh_process_per_trial=False, fresh_process_per_worker=True)
# diffexp's pool workers also keep one compiled trainer per shape (trainer_cache)
POOL_COMPILE_ONCE = Overheads(
    fresh_process_per_trial=False, fresh_process_per_worker=True, compile_once_per_shape=True
)
PROCESS_PER_TRIAL = Overheads(fresh_process_per_trial=True, fresh_process_per_worker=False)
# The threads recipe's trials share one interpreter and TensorFlow's thread pools. Measured in
# the 20-trial, 5-seed tuning run on 2 idle cores (docs/benchmarks.md, Tuning): an epoch after
# the first took 1.06 s in the threads' trials against 0.72 s in diffexp's 2 pool slots (medians
# over all trials' metrics.jsonl). Measured at 2 workers only: other worker counts extrapolate.
THREADS_EPOCH_FACTOR = 1.47
THREADS_MEASURED = Overheads(epoch_time_factor=THREADS_EPOCH_FACTOR)


@dataclass(frozen=True)
class Policy:
    """How one tool searches: its sampler and pruner, and how it fills the slots."""

    name: str
    sampler: str  # tpe | random | qmc | gp
    sampler_args: dict[str, Any] = field(default_factory=dict)
    pruner: str | None = (
        "none"  # a conf/hydra/sweeper/pruner file, or None: Optuna's default median
    )
    pruner_args: dict[str, Any] = field(default_factory=dict)  # over the pruner file's keys
    synchronous: bool = False  # the official sweeper's batches
    sequential: bool = False  # one slot whatever the worker count
    overheads: Overheads = WARM_POOL
    promotion: Promotion | None = None  # pause and resume (ASHA promotion) instead of pruning
    description: str = ""
    # start from the sampler settings of search=<search> (the keys its sampler takes), then
    # sampler_args over them: read when a sampler is made, never at import
    search: str | None = None
    # a Syne Tune scheduler (replay_syne_tune.SCHEDULERS) that searches instead of an Optuna
    # sampler and pruner, which are then unused
    syne_tune: str | None = None

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        from hydra.utils import instantiate

        structured = self._sampler_config()
        args = dict(self.sampler_args)
        if self.search is not None:
            accepted = {f.name for f in dataclasses.fields(structured)}
            from_search = search_sampler_args(self.search).items()
            args = {**{k: v for k, v in from_search if k in accepted}, **args}
        config = OmegaConf.structured(structured(seed=seed, **args))
        return instantiate(config, _execution_whitelist_=SAMPLER_TARGETS)

    def missing_modules(self) -> list[str]:
        """Optional packages it needs that are not installed (PyTorch for GP, Syne Tune)."""
        from diffexp.tuning.sampler_dependencies import missing_modules

        if self.syne_tune is not None:
            return replay_syne_tune.missing_modules()
        return missing_modules(self._sampler_config()._target_)

    def install_hint(self) -> str:
        """The command that installs what `missing_modules` lists."""
        from diffexp.tuning.sampler_dependencies import install_hint

        if self.syne_tune is not None:
            return replay_syne_tune.INSTALL_HINT
        return install_hint(self._sampler_config()._target_)

    def _sampler_config(self) -> type:
        from hydra_plugins.hydra_optuna_sweeper import config

        return {
            "tpe": config.TPESamplerConfig,
            "random": config.RandomSamplerConfig,
            "qmc": config.QMCSamplerConfig,
            "gp": config.GPSamplerConfig,
        }[self.sampler]

    def make_pruner(self) -> optuna.pruners.BasePruner:
        from diffexp.tuning.pruners import build_pruner

        if self.pruner is None:
            return optuna.pruners.MedianPruner()
        config = OmegaConf.to_container(OmegaConf.load(PRUNER_DIR / f"{self.pruner}.yaml"))
        return build_pruner({**config, **self.pruner_args})


@functools.cache
def search_sampler_args(search: str = "phase1") -> dict[str, Any]:
    """The sampler settings `search=<search>` gives diffexp's sweeper, all but its class and
    seed (the replay and the benchmark's thread peer pass their own) and the keys left null
    (Optuna's defaults): composed as the sweeper composes them (the search file picks a
    `hydra/sweeper/sampler` option), so the policy called diffexp's default is always what
    `make phase1` runs. Composed once per search (Hydra's compose API is not thread-safe)."""
    from diffexp.config import compose_checked

    cfg = compose_checked(["hydra/sweeper=optuna", f"search={search}"], with_hydra=True)
    sampler = OmegaConf.to_container(cfg.hydra.sweeper.sampler, resolve=False)
    return {
        key: value
        for key, value in sampler.items()
        if key not in ("_target_", "seed") and value is not None
    }


def _diffexp(
    name: str,
    pruner: str,
    description: str,
    pruner_args: dict | None = None,
    promotion: Promotion | None = None,
    **sampler_args: Any,
) -> Policy:
    return Policy(
        name,
        "tpe",
        sampler_args,
        pruner,
        pruner_args or {},
        overheads=POOL_COMPILE_ONCE,
        promotion=promotion,
        description=description,
        search="phase1",
    )


def _syne_tune(name: str, scheduler: str, overheads: Overheads, description: str) -> Policy:
    return Policy(name, "", overheads=overheads, description=description, syne_tune=scheduler)


_SYNE_TUNE_BACKEND = "Syne Tune's local backend, a Python process per trial"
_IN_POOL = "in diffexp's warm pool (one process per worker, a compile per trial): the policy alone"

POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy(
            "sequential_random",
            "random",
            sequential=True,
            description="one trial at a time, random search, no pruning",
        ),
        Policy(
            "threads_recipe",
            "tpe",
            {},
            None,
            description="the note's recipe: study.optimize(n_jobs=workers), Optuna's default "
            "TPESampler and MedianPruner, one process",
        ),
        Policy(
            "threads_recipe_measured",
            "tpe",
            {},
            None,
            overheads=THREADS_MEASURED,
            description="threads_recipe with its epochs slowed by the contention measured for "
            "real at 2 workers (x1.47); not a peer of the targets, which keep threads_recipe",
        ),
        Policy(
            "official_batches",
            "tpe",
            {},
            "none",
            synchronous=True,
            overheads=PROCESS_PER_TRIAL,
            description="the official Hydra sweeper: batches of n_jobs, TPE, no pruning, "
            "one process per trial (submitit_local)",
        ),
        _diffexp(DEFAULT_POLICY, "median", "diffexp's default: async slots, TPE, median pruner"),
        _diffexp("diffexp_percentile", "percentile", "async, TPE, percentile pruner (25 %)"),
        _diffexp("diffexp_sha", "successive_halving", "async, TPE, successive halving (ASHA)"),
        _diffexp("diffexp_hyperband", "hyperband", "async, TPE, Hyperband pruner"),
        _diffexp(
            "diffexp_median_tpe10",
            "median",
            "diffexp_median with Optuna's default TPE start-up, 10 (phase 1's default until "
            "a 200-seed replay chose 5)",
            n_startup_trials=10,
        ),
        _diffexp(
            "diffexp_median_tpe5",
            "median",
            "diffexp_median with TPE start-up 5 (phase 1's default until the replays with "
            "start-up 1-3 chose 2)",
            n_startup_trials=5,
        ),
        _diffexp(
            "diffexp_median_tpe1", "median", "diffexp_median, TPE start-up 1", n_startup_trials=1
        ),
        _diffexp(
            "diffexp_median_tpe20", "median", "diffexp_median, TPE start-up 20", n_startup_trials=20
        ),
        _diffexp(
            "diffexp_median_warmup1",
            "median",
            "diffexp_median, prunable from epoch 2 (n_warmup_steps 1)",
            {"n_warmup_steps": 1},
        ),
        _diffexp(
            "diffexp_median_warmup2",
            "median",
            "diffexp_median, prunable from epoch 3 (n_warmup_steps 2)",
            {"n_warmup_steps": 2},
        ),
        _diffexp(
            "diffexp_tpe_multivariate",
            "median",
            "diffexp_median, multivariate TPE",
            multivariate=True,
        ),
        Policy(
            "diffexp_qmc_scrambled_median",
            "qmc",
            {"qmc_type": "sobol", "scramble": True},
            "median",
            overheads=POOL_COMPILE_ONCE,
            description="async, scrambled Sobol QMC sampler, median pruner",
        ),
        _diffexp(
            "diffexp_asha_promotion",
            "none",
            "async, TPE (constant liar), ASHA promotion: pause at 1, 3, 9 epochs, resume the "
            "top third from its checkpoint (replay_promotion)",
            promotion=Promotion(eta=3, min_epochs=1),
        ),
        _diffexp(
            "diffexp_asha_promotion_r3",
            "none",
            "diffexp_asha_promotion with its first rung at the median pruner's warm-up, "
            "3 epochs (rungs 3, 9)",
            promotion=Promotion(eta=3, min_epochs=3),
        ),
        _diffexp(
            "diffexp_asha_promotion_r3_free_resume",
            "none",
            "a bound, not a tool: diffexp_asha_promotion_r3 whose resumed trials pay no "
            "start-up or compile",
            promotion=Promotion(eta=3, min_epochs=3, free_resume=True),
        ),
        Policy(
            "diffexp_gp_median",
            "gp",
            {},
            "median",
            overheads=POOL_COMPILE_ONCE,
            search="phase1",  # its start-up (5); GP has no constant liar
            description="async, Optuna's GP sampler (Bayesian optimisation; needs PyTorch, "
            "`make install-gp`) with phase 1's start-up, median pruner",
        ),
        Policy(
            "diffexp_gp_unpruned",
            "gp",
            {},
            "none",
            overheads=POOL_COMPILE_ONCE,
            search="phase1",
            description="diffexp_gp_median without pruning: the GP learns from complete "
            "trials only, so a pruned trial teaches it nothing",
        ),
        _syne_tune(
            "synetune_asha",
            "asha",
            PROCESS_PER_TRIAL,
            "Syne Tune's ASHA: random search, stopping at 1, 3, 9 epochs (eta 3); "
            + _SYNE_TUNE_BACKEND,
        ),
        _syne_tune(
            "synetune_hyperband",
            "hyperband",
            PROCESS_PER_TRIAL,
            "Syne Tune's asynchronous Hyperband: ASHA over 3 brackets; " + _SYNE_TUNE_BACKEND,
        ),
        _syne_tune(
            "synetune_bohb",
            "bohb",
            PROCESS_PER_TRIAL,
            "Syne Tune's BOHB: ASHA with a kernel-density (TPE-like) model, fitted once the top "
            "15 % of finished trials outnumber the parameters (27 trials for 3; before that "
            "it proposes what ASHA does); " + _SYNE_TUNE_BACKEND,
        ),
        _syne_tune("synetune_asha_warm", "asha", WARM_POOL, "synetune_asha " + _IN_POOL),
        _syne_tune("synetune_bohb_warm", "bohb", WARM_POOL, "synetune_bohb " + _IN_POOL),
        Policy(
            "diffexp_qmc_median",
            "qmc",
            {"qmc_type": "sobol"},
            "median",
            overheads=POOL_COMPILE_ONCE,
            description="async, Sobol QMC sampler, median pruner",
        ),
        Policy(
            "diffexp_random_sha",
            "random",
            {},
            "successive_halving",
            overheads=POOL_COMPILE_ONCE,
            description="async, random search, Optuna's successive halving (1 in 4 kept): "
            "diffexp's nearest setting to Syne Tune's ASHA, which keeps 1 in 3 and stops less "
            "(hydra/sweeper/sampler=random hydra/sweeper/pruner=successive_halving)",
        ),
    )
}
