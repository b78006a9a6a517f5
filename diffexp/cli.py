"""Checks the command line before Hydra runs the job: an impossible override or an unknown
config group option stops with one line and a non-zero exit, before Hydra creates or
overwrites any run folder. A multirun (`-m`) is checked too, search space included
(`diffexp.tuning.sweep_precheck`), before any sweep folder or study exists."""

from __future__ import annotations

import errno
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from diffexp.config_checks import ConfigError, validate_config

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
EXIT_BAD_CONFIG = 2
MULTIRUN_FLAGS = frozenset({"-m", "--multirun"})


def user_overrides(argv: list[str]) -> list[str] | None:
    """The override arguments (without `-m`), or None when Hydra should handle the command
    line alone (--cfg, --help, --info, shell completion, any other flag)."""
    if any(arg.startswith("-") and arg not in MULTIRUN_FLAGS for arg in argv):
        return None
    return [arg for arg in argv if arg not in MULTIRUN_FLAGS]


def is_multirun(argv: list[str]) -> bool:
    return any(arg in MULTIRUN_FLAGS for arg in argv)


def _group_options(group: str) -> list[str]:
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def describe_compose_error(error: Exception) -> str:
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, option = str(error.missing_cfg_file).rpartition("/")
        options = _group_options(group)
        if options:
            return (
                f"unknown option {option!r} for config group {group!r}; "
                f"allowed: {', '.join(options)}"
            )
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("Could not override"):
        return f"{lines[0].rstrip('.')}: no such key in the config ({' '.join(lines[1:2])})"
    return lines[0] if lines else type(error).__name__


def compose_checked(
    overrides: list[str], config_name: str = "config", with_hydra: bool = False
) -> DictConfig:
    """Compose the job config as Hydra will, and validate it; raise ConfigError.
    `with_hydra` keeps the `hydra` node (run folder) for the writability check."""
    try:
        with initialize_config_dir(str(CONF_DIR)):
            return compose_validated(overrides, config_name, with_hydra)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(describe_compose_error(error)) from error


def compose_validated(
    overrides: list[str], config_name: str = "config", with_hydra: bool = False
) -> DictConfig:
    """`compose_checked` inside an initialized Hydra (to compose many variants at once)."""
    try:
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException, ValueError) as error:
        raise ConfigError(describe_compose_error(error)) from error
    job_cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    try:
        validate_config(job_cfg)
    except OmegaConfBaseException as error:
        raise ConfigError(str(error).strip().splitlines()[0]) from error
    return cfg


# Disk faults a user fixes by freeing space or choosing another folder (not bugs).
DISK_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR}
)

# diffexp's errors with a one-line, actionable message, as (module, class name). Looked up in
# sys.modules so that reporting a config error does not import TensorFlow: a class whose
# module was never imported cannot have been raised.
USER_ERROR_CLASSES = (
    ("diffexp.config_checks", "ConfigError"),
    ("diffexp.data.errors", "DataError"),
    ("diffexp.training.checkpoints", "CheckpointError"),
    ("diffexp.training.session", "RunFolderInUse"),
    ("diffexp.tuning.analysis_storage", "StudyError"),
    ("diffexp.training.results", "DivergedError"),
    ("diffexp.tuning.storage", "StorageError"),
    ("diffexp.tuning.async_sweeper", "SweepStoppedError"),
)


def user_error_line(error: BaseException) -> str | None:
    """The one line to print for an error the user can fix, or None for a bug (which keeps
    its traceback)."""
    for module_name, class_name in USER_ERROR_CLASSES:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if cls is not None and isinstance(error, cls):
            return str(error).strip().splitlines()[0] if str(error).strip() else class_name
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        reason = error.strerror if "\n" not in str(error.strerror) else None
        return (
            f"cannot write {_failed_file(error)}: {reason or os.strerror(error.errno)}; "
            "free disk space "
            "or point paths.output_dir / hydra.run.dir at a writable folder"
        )
    return None


def _failed_file(error: OSError) -> str:
    """The file a write failed on; h5py puts it only into its (multi-line) message."""
    if error.filename:
        return str(error.filename)
    found = re.search(r"filename = '([^']+)'", str(error))
    return found.group(1) if found else "the run folder"


def exit_with_user_error(line: str) -> NoReturn:
    print(f"diffexp: error: {line}", file=sys.stderr)
    sys.exit(EXIT_BAD_CONFIG)


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    """For code that Hydra calls (a sweeper plugin): Hydra would print a traceback around
    any exception, so a user error leaves here as its one line and exit 2; a bug propagates."""
    try:
        yield
    except Exception as error:
        line = user_error_line(error)
        if line is None:
            raise
        exit_with_user_error(line)


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
    overrides = user_overrides(argv)
    if overrides is None:
        return
    try:
        if is_multirun(argv):
            from diffexp.tuning.sweep_precheck import precheck_multirun

            cfg = precheck_multirun(overrides, config_name)
            folder_key = "hydra.sweep.dir"
        else:
            cfg = compose_checked(overrides, config_name, with_hydra=True)
            folder_key = "hydra.run.dir"
        check_writable(Path(str(OmegaConf.select(cfg, folder_key))), folder_key)
        output_dir = OmegaConf.select(cfg, "paths.output_dir")
        if output_dir is not None:
            check_writable(Path(str(output_dir)), "paths.output_dir")
    except ConfigError as error:
        exit_with_user_error(str(error))
