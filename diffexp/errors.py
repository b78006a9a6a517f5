"""The errors a user causes and fixes, and the one way every entrypoint reports them.

"One `diffexp: error:` line, exit 2" is the project's promise for anything a user can fix (a
config value, a data file, a run folder, a study, a full disk); a bug keeps its traceback.
Every error with such a message subclasses `UserError`, so one `isinstance` decides, and this
module imports nothing but the standard library: reporting a config error never imports
TensorFlow, and every layer can raise these.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

EXIT_USER_ERROR = 2  # the exit status of every refused command, as argparse and Hydra use
PREFIX = "diffexp: error: "


class UserError(Exception):
    """An error the user caused and can fix; its message is one line saying what was wrong,
    which key or file, and what to do."""


class ConfigError(UserError, ValueError):
    """A config value (or command-line argument) a user set that cannot work."""


# Disk faults a user fixes by freeing space or choosing another folder (not bugs).
DISK_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR}
)


def first_line(error: BaseException | str) -> str:
    """The first non-blank line of an error's message, stripped; an exception without a
    message gives its type name. Tracebacks and SQL stay out of one-line reports and records."""
    text = str(error)
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if line or isinstance(error, str):
        return line
    return type(error).__name__


def user_error_line(error: BaseException) -> str | None:
    """The one line to print for an error the user can fix, or None for a bug (which keeps
    its traceback)."""
    if isinstance(error, UserError):
        return first_line(error)
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


def report_user_error(error: str | BaseException) -> int:
    """Print `diffexp: error: <line>` to stderr (an exception: its one line) and return the
    exit status, for an entrypoint whose `main` returns it."""
    if isinstance(error, BaseException):
        error = user_error_line(error) or first_line(error)
    print(f"{PREFIX}{first_line(error)}", file=sys.stderr)
    return EXIT_USER_ERROR


def exit_with_user_error(error: str | BaseException) -> NoReturn:
    """`report_user_error`, then exit with its status."""
    sys.exit(report_user_error(error))


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Around code whose caller would print a traceback (Hydra around a plugin, an
    entrypoint's main): a user error leaves here as its one line and exit 2; a bug
    propagates."""
    try:
        yield
    except Exception as error:
        line = user_error_line(error)
        if line is None:
            raise
        exit_with_user_error(line)
