"""The command line check of a multirun (`python -m diffexp.train -m ...`), before Hydra
creates a sweep folder or the sweeper a study.

A trial's config is the fixed overrides plus one value per search parameter. So the fixed
part is composed and validated like a single run, then every search parameter (from the
command line, `search=...` or `hydra.sweeper.params.*`) is checked for shape (empty choice,
inverted interval) and composed with each of its edge values substituted: the same
`validate_config` rules then refuse, say, an lr interval reaching 0 or a hidden_dim choice
of 0, before a trial fails on it.
"""

from __future__ import annotations

from hydra import initialize_config_dir
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

from diffexp.cli import CONF_DIR, compose_validated
from diffexp.config_checks import ConfigError
from diffexp.tuning.search_space import (
    check_param,
    edge_values,
    param_lines,
    parse_param,
)


def split_overrides(overrides: list[str]) -> tuple[list[str], list[Override]]:
    """(fixed overrides, swept overrides): a sweep of the job config (choice, interval,
    range, `a,b`) is a search parameter; everything else, `hydra.*` included, is fixed."""
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
    return override.get_key_element().lstrip("+~")


def search_params(cfg: DictConfig, fixed: list[str], swept: list[Override]) -> list[Override]:
    """The search space as the sweeper builds it: `hydra.sweeper.params`, then the command
    line's sweeps; a key the command line fixes is no longer searched."""
    params = OmegaConf.select(cfg, "hydra.sweeper.params")
    by_name = {}
    for override in [parse_param(line) for line in param_lines(params)] + swept:
        by_name[_name(override)] = override
    fixed_names = {_name(parse_param(line)) for line in fixed}
    return [o for name, o in by_name.items() if name not in fixed_names and not o.is_delete()]


def check_edges(override: Override, fixed: list[str], config_name: str) -> None:
    """Compose the fixed overrides with each edge value of `override` and validate."""
    line = override.input_line or _name(override)
    for value in edge_values(override):
        substituted = f"{override.get_key_element()}={value}"
        try:
            compose_validated([*fixed, substituted], config_name)
        except ConfigError as error:
            where = "" if str(error).startswith(f"{_name(override)}=") else f"at {substituted}: "
            raise ConfigError(f"search space {line}: {where}{error}") from error


def check_failure_rate(cfg: DictConfig) -> None:
    rate = OmegaConf.select(cfg, "hydra.sweeper.max_failure_rate", default=None)
    if rate is not None and not (isinstance(rate, int | float) and 0 <= rate <= 1):
        raise ConfigError(
            f"hydra.sweeper.max_failure_rate={rate!r} is out of range; allowed: a number in [0, 1]"
        )


def precheck_multirun(overrides: list[str], config_name: str = "config") -> DictConfig:
    """Raise ConfigError for the first fixed value or search parameter no trial could use;
    return the composed config (with `hydra`) for the sweep folder check."""
    fixed, swept = split_overrides(overrides)
    with initialize_config_dir(str(CONF_DIR)):
        cfg = compose_validated(fixed, config_name, with_hydra=True)
        check_failure_rate(cfg)
        for override in search_params(cfg, fixed, swept):
            check_param(override)
            check_edges(override, fixed, config_name)
    return cfg
