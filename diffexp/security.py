"""Where trust changes (docs/security.md). The person's own command line, config files and
installed packages are trusted: they could run Python anyway, so nothing here second-guesses
them (`--config-dir`, `hydra.searchpath`, their own `hydra.callbacks`, `launcher.setup` all
work). What others can write is data: a value read back from the study storage or from a run
folder becomes part of a configuration only through the rules below, and never reaches
`hydra.*`, a path or a storage key.

- `untrusted_key_problem` / `untrusted_value_problem`: the rule for a key and a value read
  from a place others can write (a study's trials, a run folder's saved config).
- `trusted_targets`: the `_target_`s and logging classes of the config the precheck composed
  from the user's own command line and files, added to `EXECUTION_WHITELIST`, which
  `@hydra.main` enforces inside Hydra: Hydra instantiates nothing the precheck did not see.
- `check_path_component`: a name that becomes a folder stays one folder.
"""

from __future__ import annotations

import math
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from diffexp.errors import ConfigError

# What Hydra may instantiate for diffexp's own config groups (`@hydra.main`'s whitelist);
# the user's composed config adds its own targets (`trusted_targets`).
EXECUTION_WHITELIST = (
    "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "hydra_plugins.diffexp_pool_launcher.launcher.PoolLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
    "hydra_plugins.diffexp_slurm_launcher.launcher.DiffexpSlurmLauncher",
    "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
    "hydra_plugins.diffexp_sweeper.sweeper.DiffexpOptunaSweeper",
    "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",
    "optuna.samplers.*",
    "optuna.pruners.*",
    "logging.StreamHandler",
    "logging.FileHandler",
    "logging.Formatter",
)

# Top-level keys a value from an untrusted place may never set: Hydra's own config (it runs
# code and writes files), where things are written or read (paths, the study binding), what
# selects the run (best_of*, a search file, the thread count) and folder names.
PROTECTED_KEYS = frozenset(
    {
        "hydra",
        "paths",
        "tuning",
        "best_of",
        "best_of_trial",
        "best_of_objective",
        "experiment_name",
        "search",
        "runtime",
    }
)
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[./][A-Za-z_][A-Za-z0-9_]*)*")
# A plain name: a group option, an optimizer name, a precision policy. No path separator, no
# `${...}` interpolation, no Hydra grammar (`choice(...)`, quotes, lists, commas, spaces).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
# Flags that read a file others may have written as code: Hydra's rerun unpickles a run
# folder's config.pickle.
REFUSED_FLAGS = {"experimental_rerun": "--experimental-rerun unpickles a run folder's file"}
_SAFE_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=,-]*")


def untrusted_key_problem(key: str) -> str | None:
    """Why `key` (read from a study or a run folder) may not become an override, or None."""
    if not _KEY.fullmatch(key):
        return "not a plain config key"
    if re.split(r"[./]", key, maxsplit=1)[0] in PROTECTED_KEYS:
        return f"{key.split('.')[0].split('/')[0]}.* is never taken from a study or run folder"
    return None


def untrusted_value_problem(value: Any) -> str | None:
    """Why `value` (read from a study or a run folder) may not become an override value, or
    None: a finite number, a boolean, null or a plain name only."""
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "not a finite number"
    if isinstance(value, str):
        if _is_number(value) or (_PLAIN_NAME.fullmatch(value) and ".." not in value):
            return None
        return "not a plain name or number (no paths, ${...} or Hydra grammar)"
    return f"a {type(value).__name__}, not a number or a name"


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def trusted_targets(cfg: DictConfig | None) -> list[str]:
    """The `_target_`s and logging `class`/`()` names of the `hydra` node of a config composed
    from the user's own command line and files: trusted, so Hydra may instantiate them."""
    hydra = OmegaConf.select(cfg, "hydra") if cfg is not None else None
    if hydra is None:
        return []
    found = []
    for _, key, value in _walk(OmegaConf.to_container(hydra, resolve=False)):
        if key in ("_target_", "class", "()") and isinstance(value, str) and value:
            found.append(value)
    return sorted(set(found))


def _walk(node: Any, where: str = ""):
    """(key path, key, value) of every entry below `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            yield path, str(key), value
            yield from _walk(value, path)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}[{index}]")


def check_path_component(key: str, value: Any) -> None:
    """Raise ConfigError unless `value` is one safe folder name (no separator, no `..`)."""
    text = str(value)
    if not _SAFE_COMPONENT.fullmatch(text) or ".." in text:
        raise ConfigError(
            f"{key}={text!r} is refused: it becomes a folder name; use letters, digits and "
            "_ . + = , - (no / and no ..)"
        )


_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
_NODE_REFERENCE = re.compile(r"\.*[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def saved_config_problem(cfg: DictConfig) -> str | None:
    """Why a run folder's saved config (`.hydra/config.yaml`, maybe from someone else) may not
    be read, or None. It is read for the model, diffusion, data and profile, never for where
    to write: outside `paths`, a `_target_` is refused, and an interpolation may only name
    another key (`${profile.n_events}`), never a resolver (`${oc.env:...}` would read this
    user's environment into the results) nor `paths`."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    for path, key, value in _walk({k: v for k, v in tree.items() if k != "paths"}):
        if key == "_target_":
            return f"{path}={value!r}: a saved config never instantiates anything"
        for body in _INTERPOLATION.findall(value) if isinstance(value, str) else ():
            if not _NODE_REFERENCE.fullmatch(body) or body.lstrip(".").startswith("paths"):
                return f"{path}={value!r}: only ${{other.key}} interpolations are read"
    return None
