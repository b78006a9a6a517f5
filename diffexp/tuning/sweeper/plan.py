"""What a sweep decides before its first trial, computed once and then only read.

`AsyncOptunaSweeperImpl.plan` computes it in the one order that works, each step needing the
one before: the storage URL (absolute, its password moved to the environment before anything
is opened or handed to a trial), the seed that grid and QMC sweepers share (the grid's order
follows it), the search space (which builds the grid and caps `n_trials` to its size), the
launcher's kind and slots. The slot loop then reads the plan, never the sweeper's settings,
so no step depends on another having run first. The seed stream of the other samplers is
claimed when the study is open, under the lock every sweeper of the study shares
(`diffexp.tuning.sweeper.sampler_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class SearchSpace(NamedTuple):
    """The official sweeper's three parts: searched distributions, fixed values (override
    strings), and the remaining overrides passed through unchanged."""

    distributions: dict[str, Any]
    fixed_params: dict[str, Any]
    fixed_overrides: list[str]


@dataclass(frozen=True)
class SweepPlan:
    storage_url: str  # absolute; a database password is in the environment, not here
    study_name: str
    space: SearchSpace
    n_trials: int  # the study's budget, capped to a grid's size
    launcher_kind: str  # 'inprocess', 'local' or 'cluster' (resources.launcher_kind)
    max_slots: int  # trials in flight at most: n_jobs, capped to the cores on local launchers
    binds_by_config: bool  # the app has a `tuning` node; else trials learn theirs from env vars
