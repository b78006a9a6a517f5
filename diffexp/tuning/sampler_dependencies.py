"""Optional packages an Optuna sampler needs, checked before the first trial.

Optuna imports them lazily: `GPSampler` needs PyTorch only once its random start-up trials
are done, so without it a study runs its first 10 trials and then every later `ask` raises
ModuleNotFoundError, minutes or hours into the sweep. The sweeper checks here instead, when it
is built, and stops with one line that says what to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from diffexp.errors import ConfigError

# sampler class (`_target_`) -> (the `hydra/sweeper/sampler=` option, modules, how to install)
_NEEDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "optuna.samplers.GPSampler": ("gp", ("torch", "scipy"), "make install-gp"),
    "optuna.samplers.CmaEsSampler": ("cmaes", ("cmaes",), "pip install cmaes"),
}


def missing_modules(target: str) -> list[str]:
    """The modules sampler class `target` needs that cannot be imported here (without
    importing them: PyTorch alone takes seconds)."""
    _, modules, _ = _NEEDS.get(target, ("", (), ""))
    return [name for name in modules if importlib.util.find_spec(name) is None]


def install_hint(target: str) -> str:
    """How to install what sampler class `target` needs (a command), or "" if it needs
    nothing optional."""
    return _NEEDS.get(target, ("", (), ""))[2]


def check_sampler_dependencies(sampler: Mapping[str, Any] | None) -> None:
    """ConfigError naming the missing packages of the sampler config `sampler` (a node with a
    `_target_`; None: no sampler configured), so a sweep does not fail after its start-up
    trials."""
    target = str((sampler or {}).get("_target_", ""))
    missing = missing_modules(target)
    if missing:
        option = _NEEDS[target][0]
        raise ConfigError(
            f"hydra/sweeper/sampler={option} ({target}) needs {', '.join(missing)}, which is "
            f"not installed: run `{install_hint(target)}`, or pick another sampler "
            "(tpe, random, qmc)"
        )
