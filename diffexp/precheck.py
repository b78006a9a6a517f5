"""The command line of every entrypoint (`diffexp.train`, `verify`, `select_pmts`), checked
before Hydra runs anything: an impossible override, an unknown config group option or a folder
that cannot be written stops with one `diffexp: error:` line and exit 2, before Hydra creates
or overwrites a folder. A config that cannot be composed for the check is refused, never
skipped: what Hydra runs is what was checked.

The user's own command line and config files are trusted (docs/security.md): `--config-dir`
adds their config groups after diffexp's conf/, as Hydra does, and the composed config is
checked like any other; the `_target_`s it names are handed to Hydra's execution whitelist.

A multirun (`-m`) is checked too, before any sweep folder or study exists. A trial's config is
the fixed overrides plus one value per search parameter. So the fixed part is composed and
validated like a single run, then every search parameter (from the command line, `search=...`
or `hydra.sweeper.params.*`) is checked for shape (empty choice, inverted interval) and each of
its edge values is validated with the same rules: a value of a plain key is set into the one
composed config (linear in the number of values, no composition each), a group choice is
composed with its option. Hydra's own config (`hydra.*`, `hydra/...` groups) cannot be swept,
whether the sweep is on the command line or in a search file.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from diffexp.config import (
    compose_validated,
    describe_compose_error,
    initialized,
    override_key,
    validate_job,
)
from diffexp.config_checks import Tree, check_max_failure_rate, tree_of, validate_tree
from diffexp.errors import ConfigError, exit_with_user_error
from diffexp.secret_args import hide_command_line_passwords
from diffexp.security import REFUSED_FLAGS

# Hydra's flags that only print (the config, help, info, completions): no job runs, nothing
# of the config is instantiated, so Hydra handles these command lines alone.
PRINT_ONLY = ("help", "hydra_help", "cfg", "info", "shell_completion")

Validate = Callable[[Tree], None]


@dataclass(frozen=True)
class CommandLine:
    """An entrypoint's command line as Hydra reads it."""

    overrides: list[str]
    multirun: bool = False
    config_dir: str | None = None
    config_name: str | None = None

    def flags(self) -> list[str]:
        """The flags to hand back to Hydra, in its own spelling."""
        flags = ["--multirun"] if self.multirun else []
        if self.config_dir is not None:
            flags.append(f"--config-dir={self.config_dir}")
        if self.config_name is not None:
            flags.append(f"--config-name={self.config_name}")
        return flags

    def argv(self) -> list[str]:
        return [*self.flags(), *self.overrides]


def parse_command_line(argv: list[str]) -> CommandLine | None:
    """`argv` parsed by Hydra's own argument parser; None when Hydra should handle it alone
    (--cfg, --help, --info, shell completion). Refused (ConfigError): a flag that reads a run
    folder's file as code (`--experimental-rerun`), and `--config-path`, which is relative to
    diffexp's package (use `--config-dir`)."""
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_intermixed_args(argv)
    if any(getattr(args, name) for name in PRINT_ONLY):
        return None
    for name, reason in REFUSED_FLAGS.items():
        if getattr(args, name) is not None:
            raise ConfigError(f"--{name.replace('_', '-')} is refused: {reason}")
    if args.config_path is not None:
        raise ConfigError(
            f"--config-path={args.config_path} is refused: it is relative to diffexp's package; "
            "add your own config folder with --config-dir=<folder>"
        )
    return CommandLine(list(args.overrides), args.multirun, args.config_dir, args.config_name)


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


def check_command_line(
    command: CommandLine, config_name: str, validate: Validate = validate_tree
) -> DictConfig:
    """Compose and check `command` (a single run or every trial of a multirun); return the
    composed config (with `hydra`); raise ConfigError."""
    name = command.config_name or config_name
    with initialized(command.config_dir):
        if command.multirun:
            cfg = check_multirun(command.overrides, name, validate)
            folder_key = "hydra.sweep.dir"
        else:
            cfg = compose_validated(command.overrides, name, True, validate)
            folder_key = "hydra.run.dir"
    check_writable(Path(str(OmegaConf.select(cfg, folder_key))), folder_key)
    output_dir = OmegaConf.select(cfg, "paths.output_dir")
    if output_dir is not None:
        check_writable(Path(str(output_dir)), "paths.output_dir")
    return cfg


def precheck_or_exit(
    argv: list[str], config_name: str = "config", validate: Validate = validate_tree
) -> tuple[CommandLine, DictConfig] | None:
    """Check the command line; on a user error print its one line and exit 2. Returns the
    parsed command line and its composed config, or None when Hydra only prints."""
    try:
        command = parse_command_line(argv)
        if command is None:
            return None
        return command, check_command_line(command, config_name, validate)
    except ConfigError as error:
        exit_with_user_error(str(error))
    except (HydraException, OmegaConfBaseException) as error:
        exit_with_user_error(describe_compose_error(error))


# ---- a multirun: the fixed part and every search parameter's edges ------------------------


def _refuse_hydra_sweep(override: Override, where: str) -> None:
    key = _name(override)
    if key == "hydra" or key.startswith(("hydra.", "hydra/")):
        raise ConfigError(
            f"{override.input_line or key}{where}: Hydra's own config cannot be swept; set it "
            "as a fixed value. To set a search parameter from the command line, quote its "
            "value: hydra.sweeper.params.<key>='interval(1e-5, 1e-2)'"
        )


def split_overrides(overrides: list[str]) -> tuple[list[str], list[Override]]:
    """(fixed overrides, swept overrides): a sweep of the job config (choice, interval,
    range, `a,b`) is a search parameter; everything else, `hydra.*` included, is fixed."""
    from diffexp.tuning.sweeper.search_space import parse_param

    fixed, swept = [], []
    for line in overrides:
        override = parse_param(line)
        if not override.is_sweep_override():
            fixed.append(line)
            continue
        _refuse_hydra_sweep(override, "")
        swept.append(override)
    return fixed, swept


def _name(override: Override) -> str:
    return override_key(override.get_key_element())


def search_params(cfg: DictConfig, fixed: list[str], swept: list[Override]) -> list[Override]:
    """The search space as the sweeper builds it: `hydra.sweeper.params`, then the command
    line's sweeps; a key the command line fixes is no longer searched. A search file's
    parameter on Hydra's own config is refused like the command line's."""
    from diffexp.tuning.sweeper.search_space import param_lines, parse_param

    params = OmegaConf.select(cfg, "hydra.sweeper.params")
    from_file = [parse_param(line) for line in param_lines(params)]
    for override in from_file:
        _refuse_hydra_sweep(override, " (in hydra.sweeper.params)")
    by_name = {}
    for override in from_file + swept:
        by_name[_name(override)] = override
    fixed_names = {override_key(line) for line in fixed}
    return [o for name, o in by_name.items() if name not in fixed_names and not o.is_delete()]


def _leaf(cfg: DictConfig, key: str) -> tuple[DictConfig, str] | None:
    """(parent node, leaf name) of `key` if it holds a value (or `???`) in `cfg`."""
    parent_key, _, leaf = key.rpartition(".")
    parent = (
        OmegaConf.select(cfg, parent_key, throw_on_resolution_failure=False) if parent_key else cfg
    )
    if not isinstance(parent, DictConfig) or parent._get_node(leaf) is None:
        return None
    return None if OmegaConf.is_config(parent._get_node(leaf)) else (parent, leaf)


def _is_plain_key(cfg: DictConfig, job: DictConfig, override: Override) -> bool:
    """A key that already holds a value in the composed config (not a group choice, not an
    addition): its edges can be set into that config instead of composing each."""
    key = _name(override)
    choices = OmegaConf.select(cfg, "hydra.runtime.choices") or {}
    return override.get_key_element() == key and key not in choices and _leaf(job, key) is not None


def _typed_edges(override: Override) -> list[tuple[str, Any]]:
    """(override value as written, parsed value) of each edge of `override`, parsed in one
    batch (one parser for all values: a 1,000-value choice parses in a fraction of a second)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from diffexp.tuning.sweeper.search_space import edge_values

    values = edge_values(override)
    lines = [f"{override.get_key_element()}={value}" for value in values]
    parsed = OverridesParser.create().parse_overrides(lines)
    return [(line, item.value()) for line, item in zip(lines, parsed, strict=True)]


def _interpolated(job: DictConfig, key: str) -> bool:
    """Whether another value of `job` interpolates `key` (then a value set into the resolved
    tree would not reach it, and the edge is checked on the config itself)."""
    raw = OmegaConf.to_yaml(job, resolve=False)
    return "${" in raw and key.rsplit(".", 1)[-1] in "".join(
        part.split("}", 1)[0] for part in raw.split("${")[1:]
    )


def check_edges(
    override: Override,
    fixed: list[str],
    config_name: str,
    validate: Validate,
    job: DictConfig | None = None,
) -> None:
    """Validate `fixed` with each edge value of `override`. A plain key's values are set into
    the resolved job config `job`, one value after another (or into `job` itself where another
    value interpolates the key); a group choice or an addition (job=None) is composed."""
    line = override.input_line or _name(override)
    key = _name(override)
    tree = tree_of(job) if job is not None and not _interpolated(job, key) else None
    for substituted, value in _typed_edges(override):
        try:
            if tree is not None:
                _validate_in_tree(tree, key, value, validate)
            elif job is not None:
                _validate_with(job, key, value, validate)
            else:
                compose_validated([*fixed, substituted], config_name, True, validate)
        except ConfigError as error:
            where = "" if str(error).startswith(f"{key}=") else f"at {substituted}: "
            raise ConfigError(f"search space {line}: {where}{error}") from error


def _validate_in_tree(tree: Tree, key: str, value: Any, validate: Validate) -> None:
    """`validate(tree)` with dotted `key` set to `value`, then restored."""
    *parents, leaf = key.split(".")
    node = tree
    for part in parents:
        node = node[part]
    original = node[leaf]
    node[leaf] = value
    try:
        validate(tree)
    finally:
        node[leaf] = original


def _validate_with(job: DictConfig, key: str, value: Any, validate: Validate) -> None:
    """`validate` of `job` with `key` set to `value`, then `key` restored as it was."""
    parent, leaf = _leaf(job, key)
    original = parent._get_node(leaf)._value()  # unresolved: an interpolation stays one
    parent[leaf] = value
    try:
        validate_job(job, validate)
    finally:
        parent[leaf] = original


def _skip(_: Tree) -> None:
    return None


def check_multirun(overrides: list[str], config_name: str, validate: Validate) -> DictConfig:
    """Raise ConfigError for the first fixed value or search parameter no trial could use;
    return the composed config (with `hydra`). Inside `config.initialized`. The fixed part is
    validated with a required (`???`) searched key set to its first edge value."""
    from diffexp.tuning.sampler_dependencies import check_sampler_dependencies
    from diffexp.tuning.sweeper.search_space import check_param

    fixed, swept = split_overrides(overrides)
    cfg = compose_validated(fixed, config_name, True, _skip)
    check_max_failure_rate(OmegaConf.select(cfg, "hydra.sweeper.max_failure_rate"))
    check_sampler_dependencies(OmegaConf.select(cfg, "hydra.sweeper.sampler"))
    params = search_params(cfg, fixed, swept)
    job = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    plain = {_name(o) for o in params if _is_plain_key(cfg, job, o)}
    for override in params:
        check_param(override)
        if _name(override) in plain and OmegaConf.is_missing(*_leaf(job, _name(override))):
            parent, leaf = _leaf(job, _name(override))
            parent[leaf] = _typed_edges(override)[0][1]
    validate_job(job, validate)
    for override in params:
        plain_job = job if _name(override) in plain else None
        check_edges(override, fixed, config_name, validate, plain_job)
    return cfg


def precheck_multirun(
    overrides: list[str], config_name: str = "config", config_dir: str | None = None
) -> DictConfig:
    """`check_multirun` of the training config, Hydra initialized here."""
    with initialized(config_dir):
        return check_multirun(overrides, config_name, validate_tree)


def run_checked(
    main: Callable[[], Any],
    config_name: str,
    validate: Validate = validate_tree,
    expand: Callable[[CommandLine, DictConfig], tuple[CommandLine, DictConfig]] | None = None,
) -> None:
    """An entrypoint's `cli`: check `sys.argv` (`expand` may add to it, e.g. `best_of=`), then
    run the `@hydra.main` function `main` on what was checked, with the `_target_`s of the
    checked config (the user's own) added to Hydra's execution whitelist."""
    from hydra.utils import execution_whitelist

    from diffexp.security import trusted_targets

    hide_command_line_passwords()  # may re-execute the process with the password removed
    checked = precheck_or_exit(sys.argv[1:], config_name, validate)
    if checked is None:  # --help, --cfg, --info: Hydra prints
        main()
        return
    command, cfg = expand(*checked) if expand is not None else checked
    sys.argv = sys.argv[:1] + command.argv()
    with execution_whitelist(trusted_targets(cfg)):
        main()
