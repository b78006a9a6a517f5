"""Helpers shared by the sweeper tests (a uniquely named module: several conftest.py exist)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO

TINY_APP = Path(__file__).resolve().parent / "tiny_app" / "app.py"


def tiny_sweep_command(
    storage: str, *overrides: str, launcher: str = "submitit_local"
) -> list[str]:
    """`app.py -m` with diffexp's sweeper config, a launcher, and a tmp storage."""
    return [
        sys.executable,
        str(TINY_APP),
        "-m",
        f"hydra.searchpath=[file://{REPO / 'conf'}]",
        f"hydra/launcher={launcher}",
        f"paths.study_storage={storage}",
        *overrides,
    ]


def sweeper_impl(**settings: Any) -> Any:
    """The sweeper core with the plugin's defaults; `settings` override single arguments."""
    from diffexp.tuning.sweeper.async_sweeper import AsyncOptunaSweeperImpl

    arguments = {
        "pruner": None,
        "cap_n_jobs_to_cores": True,
        "fix_best_of": None,
        "sampler": None,
        "direction": "minimize",
        "storage": None,
        "study_name": "p",
        "n_trials": 2,
        "n_jobs": 1,
        "max_failure_rate": 0.0,
        "custom_search_space": None,
        "params": None,
    }
    return AsyncOptunaSweeperImpl(**{**arguments, **settings})
