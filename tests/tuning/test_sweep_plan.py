"""The sweeper as a plan and a loop (issue 25 item 2): what a sweep decides before its first
trial is computed once, in order, into a value the slot loop only reads."""

from __future__ import annotations

import dataclasses
import functools
import os

import optuna
import pytest
from omegaconf import OmegaConf

from diffexp.tuning.storage import STORAGE_PASSWORD_ENV
from tests.tuning.sweep_helpers import sweeper_impl


class SlurmLauncher:  # stands in for the SLURM launcher, matched by class name
    pass


def test_the_plan_holds_the_bare_url_the_grid_budget_and_the_slots(tmp_path, monkeypatch):
    monkeypatch.delenv(STORAGE_PASSWORD_ENV, raising=False)
    impl = sweeper_impl(
        storage="postgresql://bob:secret@127.0.0.1/db",
        n_trials=10,
        n_jobs=4,
        params=OmegaConf.create({"a": "choice(1, 2, 3)"}),
        sampler=functools.partial(optuna.samplers.GridSampler, seed=1),
    )
    impl.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    impl.launcher = SlurmLauncher()
    plan = impl.plan(["b=7"])
    # the password left the URL for the environment before anything could be opened
    assert plan.storage_url == "postgresql://bob@127.0.0.1/db"
    assert os.environ[STORAGE_PASSWORD_ENV] == "secret"
    assert plan.n_trials == 3  # capped to the grid, which the search space built
    assert set(plan.space.distributions) == {"a"} and plan.space.fixed_params == {"b": "7"}
    assert (plan.launcher_kind, plan.max_slots) == ("cluster", 4)
    assert plan.binds_by_config is False  # no `tuning` node: trials bind by environment
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.n_trials = 5  # type: ignore[misc]
