"""Optional packages an Optuna sampler needs, checked before the first trial.

Optuna imports them lazily: `GPSampler` needs PyTorch only once its random start-up trials
are done, so without it a study runs its first 10 trials and then every later `ask` raises
ModuleNotFoundError, minutes or hours into the sweep. The sweeper checks here instead, when it
is built, and stops with one line that says what to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any, NamedTuple

from diffexp.errors import ConfigError


class _Needs(NamedTuple):
    option: str  # the `hydra/sweeper/sampler=` option
    modules: tuple[str, ...]
    install: str  # the command that installs them


_NOTHING = _Needs("", (), "")
# sampler class (`_target_`) -> what it needs beyond diffexp's own install
_NEEDS: dict[str, _Needs] = {
    "optuna.samplers.GPSampler": _Needs("gp", ("torch", "scipy"), "make install-gp"),
    "optuna.samplers.CmaEsSampler": _Needs("cmaes", ("cmaes",), "pip install cmaes"),
}


def missing_modules(target: str) -> list[str]:
    """The modules sampler class `target` needs that cannot be imported here (without
    importing them: PyTorch alone takes seconds)."""
    needs = _NEEDS.get(target, _NOTHING)
    return [name for name in needs.modules if importlib.util.find_spec(name) is None]


def install_hint(target: str) -> str:
    """How to install what sampler class `target` needs (a command), or "" if it needs
    nothing optional."""
    return _NEEDS.get(target, _NOTHING).install


def check_sampler_dependencies(sampler: Mapping[str, Any] | None) -> None:
    """ConfigError naming the missing packages of the sampler config `sampler` (a node with a
    `_target_`; None: no sampler configured), so a sweep does not fail after its start-up
    trials."""
    target = str((sampler or {}).get("_target_", ""))
    missing = missing_modules(target)
    if missing:
        raise ConfigError(
            f"hydra/sweeper/sampler={_NEEDS[target].option} ({target}) needs "
            f"{', '.join(missing)}, which is not installed: run `{install_hint(target)}`, "
            "or pick another sampler (tpe, random, qmc)"
        )
