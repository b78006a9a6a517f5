"""A sweep's search space, checked before any study or trial exists.

Each parameter is an override line as Hydra writes it (`optimizer.lr=tag(log, interval(1e-5,
1e-2))`, `model.hidden_dim=choice(64, 128)`, `model.n_layers=range(2, 6)`). The official
sweeper turns them into Optuna distributions and lets Optuna raise on an impossible one, with
a message that names neither the parameter nor the fix. Here every parameter is checked
first and refused with a ConfigError naming it; the conversion itself stays the official one.
`edge_values` gives the values a trial can take at the edges of a parameter, so the command
line precheck (`diffexp.precheck`) validates them with the same rules as a single run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep
from hydra.errors import HydraException
from hydra_plugins.hydra_optuna_sweeper._impl import create_optuna_distribution_from_override
from optuna.distributions import BaseDistribution

from diffexp.errors import ConfigError

MAX_RANGE_VALUES_CHECKED = 16  # a longer range is checked at its two ends only

SweepSpace = tuple[dict[str, BaseDistribution], dict[str, Any], list[str]]


def param_lines(params: Mapping[str, Any] | None, prefix: str = "") -> list[str]:
    """`hydra.sweeper.params` as override lines. A nested mapping is flattened to dotted keys:
    `+hydra.sweeper.params.model.hidden_dim='choice(64,128)'` on the command line nests it."""
    lines = []
    for key, value in (params or {}).items():
        if isinstance(value, Mapping):
            lines.extend(param_lines(value, f"{prefix}{key}."))
        else:
            lines.append(f"{prefix}{key}={value}")
    return lines


def parse_param(line: str) -> Override:
    """One override line, or ConfigError naming it (e.g. `choice()`, unbalanced brackets)."""
    try:
        return OverridesParser.create().parse_override(line)
    except HydraException as error:
        reasons = [text.strip() for text in str(error).splitlines() if text.strip()]
        reason = reasons[-1] if reasons else type(error).__name__
        if reason.startswith("ValueError while evaluating "):  # "...'choice()': <why>"
            reason = reason.rsplit(": ", 1)[-1]
        raise ConfigError(
            f"search space {line}: {reason}; see "
            "https://hydra.cc/docs/plugins/optuna_sweeper/ for choice/interval/range"
        ) from error


def check_param(override: Override) -> None:
    """Raise ConfigError if `override` cannot give a trial any value (inverted interval,
    empty range, log interval reaching 0)."""
    line = override.input_line or override.get_key_element()
    value = override.value()
    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if low is not None and high is not None and low > high:
            raise ConfigError(
                f"search space {line}: low {low} > high {high}; "
                "write interval(low, high) with low <= high"
            )
        if "log" in value.tags and low is not None and low <= 0:
            raise ConfigError(
                f"search space {line}: a log interval needs low > 0, got {low}; "
                "raise low or drop tag(log, ...)"
            )
    if isinstance(value, RangeSweep):
        if value.step == 0:
            raise ConfigError(f"search space {line}: step 0; give a non-zero step")
        if not list(override.sweep_string_iterator()):
            raise ConfigError(
                f"search space {line}: the range holds no value (stop is exclusive; "
                "start < stop for a positive step); e.g. range(8, 65, 8)"
            )


def distributions_from_overrides(lines: list[str]) -> SweepSpace:
    """The official `create_params_from_overrides`, with every parameter checked first:
    (distributions, fixed params, fixed overrides such as deletions)."""
    distributions: dict[str, BaseDistribution] = {}
    fixed_params: dict[str, Any] = {}
    fixed_overrides: list[str] = []
    for line in lines:
        override = parse_param(line)
        if override.is_delete():
            fixed_overrides.append(line)
            continue
        check_param(override)
        name = override.get_key_element()
        try:
            value = create_optuna_distribution_from_override(override)
        except (ValueError, AssertionError, NotImplementedError) as error:
            raise ConfigError(f"search space {line}: {str(error).strip()}") from error
        if isinstance(value, BaseDistribution):
            distributions[name] = value
            fixed_params.pop(name, None)
        else:
            fixed_params[name] = value
            distributions.pop(name, None)
    return distributions, fixed_params, fixed_overrides


def edge_values(override: Override) -> list[str]:
    """The override values a trial can take at the edges of `override` (each choice, each
    value of a short range or the ends of a long one, an interval's bounds), as strings
    that Hydra parses back; a fixed value is its own single edge."""
    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    value = override.value()
    if isinstance(value, IntervalSweep):
        return [str(bound) for bound in (value.start, value.end) if bound is not None]
    values = list(dict.fromkeys(override.sweep_string_iterator()))
    if isinstance(value, RangeSweep) and len(values) > MAX_RANGE_VALUES_CHECKED:
        return [values[0], values[-1]]
    return values
