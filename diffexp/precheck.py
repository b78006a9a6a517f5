"""The command line of `python -m diffexp.train`, checked before Hydra runs anything: an
impossible override, an unknown config group option or a folder that cannot be written stops
with one `diffexp: error:` line and exit 2, before Hydra creates or overwrites a run folder.

A multirun (`-m`) is checked too, before any sweep folder or study exists. A trial's config is
the fixed overrides plus one value per search parameter. So the fixed part is composed and
validated like a single run, then every search parameter (from the command line, `search=...`
or `hydra.sweeper.params.*`) is checked for shape (empty choice, inverted interval) and
composed with each of its edge values substituted: the same `validate_config` rules then
refuse, say, an lr interval reaching 0 or a hidden_dim choice of 0, before a trial fails on it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from diffexp.config import CONF_DIR, compose_checked, compose_validated, override_key
from diffexp.config_checks import check_max_failure_rate
from diffexp.errors import ConfigError, exit_with_user_error
from diffexp.security import check_hydra_config

MULTIRUN_FLAGS = frozenset({"-m", "--multirun"})
# Hydra's flags that only print (the config, help, info, completions): no job runs, nothing
# of the config is instantiated, so Hydra handles these command lines alone.
PRINT_ONLY_FLAGS = frozenset(
    {"--cfg", "-c", "--package", "-p", "--resolve", "--help", "-h", "--hydra-help", "--info",
     "-i", "--shell-completion", "-sc", "--version"}
)  # fmt: skip


def user_overrides(argv: list[str]) -> list[str] | None:
    """The override arguments (without `-m`), or None when Hydra should handle the command
    line alone (--cfg, --help, --info, shell completion). Any other flag is refused (ConfigError):
    `--config-dir`/`--config-name` would run a config the checks never saw, and
    `--experimental-rerun` unpickles a file."""
    flags = [arg.split("=", 1)[0] for arg in argv if arg.startswith("-")]
    if any(flag in PRINT_ONLY_FLAGS for flag in flags):
        return None
    for flag in flags:
        if flag not in MULTIRUN_FLAGS:
            raise ConfigError(
                f"{flag} is refused: diffexp runs its own config (conf/); "
                "pass overrides (key=value), -m for a sweep, or --cfg job to print the config"
            )
    return [arg for arg in argv if arg not in MULTIRUN_FLAGS]


def is_multirun(argv: list[str]) -> bool:
    return any(arg in MULTIRUN_FLAGS for arg in argv)


def check_writable(folder: Path, key: str) -> None:
    """Raise ConfigError unless `folder` can be created and written: probe with a temporary
    file in its nearest existing ancestor (permission bits say nothing for root; a read-only
    mount or a regular file in the path does)."""
    ancestor = Path(folder).absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(
            f"{key}={folder} cannot be created: {ancestor} is a file, not a folder; "
            "choose another folder"
        )
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as error:
        raise ConfigError(
            f"{key}={folder} is not writable ({ancestor}: {error.strerror}); "
            "choose a writable folder"
        ) from error


def precheck_or_exit(argv: list[str], config_name: str = "config") -> None:
    """Check the command line; on a user error print its one line and exit 2."""
    try:
        overrides = user_overrides(argv)
        if overrides is None:
            return
        if is_multirun(argv):
            cfg = precheck_multirun(overrides, config_name)
            folder_key = "hydra.sweep.dir"
        else:
            cfg = compose_checked(overrides, config_name, with_hydra=True)
            from diffexp.models.denoiser import check_denoiser_keys  # Keras: single runs only

            check_denoiser_keys(cfg.model)  # the run imports the denoiser's package next anyway
            folder_key = "hydra.run.dir"
        check_writable(Path(str(OmegaConf.select(cfg, folder_key))), folder_key)
        output_dir = OmegaConf.select(cfg, "paths.output_dir")
        if output_dir is not None:
            check_writable(Path(str(output_dir)), "paths.output_dir")
    except ConfigError as error:
        exit_with_user_error(str(error))


def check_hydra_or_exit(argv: list[str], config_name: str) -> None:
    """For the entrypoints without a training config (verify, select_pmts): refuse a flag or
    a `hydra.*` entry that would run code (diffexp.security); other compose errors are
    Hydra's to report."""
    try:
        overrides = user_overrides(argv)
        if overrides is None:
            return
        with initialize_config_dir(str(CONF_DIR)):
            cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
        check_hydra_config(cfg)
    except ConfigError as error:
        exit_with_user_error(str(error))
    except (HydraException, OmegaConfBaseException):
        return


# ---- a multirun: the fixed part and every search parameter's edges ------------------------


def split_overrides(overrides: list[str]) -> tuple[list[str], list[Override]]:
    """(fixed overrides, swept overrides): a sweep of the job config (choice, interval,
    range, `a,b`) is a search parameter; everything else, `hydra.*` included, is fixed."""
    from diffexp.tuning.sweeper.search_space import parse_param

    fixed, swept = [], []
    for line in overrides:
        override = parse_param(line)
        if not override.is_sweep_override():
            fixed.append(line)
        elif override.is_hydra_override():
            raise ConfigError(
                f"{line}: Hydra's own config cannot be swept; to set a search parameter, "
                "quote its value: hydra.sweeper.params.<key>='interval(1e-5, 1e-2)'"
            )
        else:
            swept.append(override)
    return fixed, swept


def _name(override: Override) -> str:
    return override_key(override.get_key_element())


def search_params(cfg: DictConfig, fixed: list[str], swept: list[Override]) -> list[Override]:
    """The search space as the sweeper builds it: `hydra.sweeper.params`, then the command
    line's sweeps; a key the command line fixes is no longer searched."""
    from diffexp.tuning.sweeper.search_space import param_lines, parse_param

    params = OmegaConf.select(cfg, "hydra.sweeper.params")
    by_name = {}
    for override in [parse_param(line) for line in param_lines(params)] + swept:
        by_name[_name(override)] = override
    fixed_names = {override_key(line) for line in fixed}
    return [o for name, o in by_name.items() if name not in fixed_names and not o.is_delete()]


def check_edges(override: Override, fixed: list[str], config_name: str) -> None:
    """Compose the fixed overrides with each edge value of `override` and validate."""
    from diffexp.tuning.sweeper.search_space import edge_values

    line = override.input_line or _name(override)
    for value in edge_values(override):
        substituted = f"{override.get_key_element()}={value}"
        try:
            compose_validated([*fixed, substituted], config_name)
        except ConfigError as error:
            where = "" if str(error).startswith(f"{_name(override)}=") else f"at {substituted}: "
            raise ConfigError(f"search space {line}: {where}{error}") from error


def precheck_multirun(overrides: list[str], config_name: str = "config") -> DictConfig:
    """Raise ConfigError for the first fixed value or search parameter no trial could use;
    return the composed config (with `hydra`) for the sweep folder check."""
    from diffexp.tuning.sweeper.search_space import check_param

    fixed, swept = split_overrides(overrides)
    with initialize_config_dir(str(CONF_DIR)):
        cfg = compose_validated(fixed, config_name, with_hydra=True)
        check_max_failure_rate(OmegaConf.select(cfg, "hydra.sweeper.max_failure_rate"))
        for override in search_params(cfg, fixed, swept):
            check_param(override)
            check_edges(override, fixed, config_name)
    return cfg
