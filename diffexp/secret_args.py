"""A password typed on the command line never reaches a file, a log or a process list.

`postgresql://user:PW@host/db` in `paths.study_storage=`, `hydra.sweeper.storage=`, analyze's
`--storage` or any other argument that holds a URL would be written down by Hydra (the run's
`.hydra/*.yaml`, each trial's overrides and `trial.json`, the study's attributes, the log
lines that list a trial's overrides) and shown by `ps` to every user of the machine while
the sweep runs. So every entrypoint calls `hide_command_line_passwords()` first, before Hydra
or anything else reads its arguments: the password moves into the environment
(`STORAGE_PASSWORD_ENV`, which pool workers, submitit and SLURM jobs inherit, readable only
by the same user), the argument keeps the URL without it, and where the process's own
command line held it, the process re-executes itself with the clean one. Every storage open
puts the password back (`diffexp.tuning.storage.with_password`).

Only a URL's user-info password and a `password=` query parameter are secrets here; the
driver's own `PGPASSWORD` and `~/.pgpass` never appear in an argument in the first place.
"""

from __future__ import annotations

import os
import re
import sys
from urllib.parse import unquote

from diffexp.errors import exit_with_user_error

STORAGE_PASSWORD_ENV = "DIFFEXP_STORAGE_PASSWORD"  # a database password, kept out of every URL

# scheme://user:password@ : the user part has no ':' '/' '@'; the password stops at the '@'
# (a password holding '/', '@' or ':' must be percent-encoded in a URL anyway).
_USERINFO_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*):(?P<password>[^@/\s'\"]*)@"
)
_QUERY_PASSWORD = re.compile(r"(?P<sep>[?&])password=(?P<password>[^&\s'\"]*)&?")


def strip_password(text: str) -> tuple[str, list[str]]:
    """`text` with every URL password removed, and the passwords found (percent-decoded)."""
    found: list[str] = []

    def userinfo(match: re.Match[str]) -> str:
        found.append(unquote(match["password"]))
        return f"{match['head']}@"

    def query(match: re.Match[str]) -> str:
        found.append(unquote(match["password"]))
        return match["sep"] if match.group(0).endswith("&") else ""

    bare = _USERINFO_PASSWORD.sub(userinfo, text)
    if "://" in bare:
        bare = _QUERY_PASSWORD.sub(query, bare)
    return bare, [password for password in found if password]


def strip_passwords(argv: list[str]) -> tuple[list[str], str | None]:
    """(argv without URL passwords, the one password they held or None). Two different
    passwords cannot share the one variable: that is a ConfigError-style exit for the caller."""
    clean, passwords = [], set()
    for argument in argv:
        bare, found = strip_password(argument)
        clean.append(bare)
        passwords.update(found)
    if len(passwords) > 1:
        raise ValueError("different passwords in several URLs")
    return clean, (passwords.pop() if passwords else None)


def export_password(password: str) -> None:
    """Hand `password` to this process's children without an argument: in diffexp's variable,
    which `tuning.storage.with_password` reads for a URL that names a user, and in libpq's own
    PGPASSWORD (unless the user set it) for a `?password=` URL that names none."""
    os.environ[STORAGE_PASSWORD_ENV] = password
    os.environ.setdefault("PGPASSWORD", password)


def hide_command_line_passwords() -> None:
    """Move a password out of `sys.argv` into `STORAGE_PASSWORD_ENV`; when this process was
    started with it on its command line (visible in /proc/<pid>/cmdline, inherited by forked
    workers), re-execute with the clean arguments so nothing long-lived shows it."""
    try:
        clean, password = strip_passwords(sys.argv[1:])
    except ValueError:
        exit_with_user_error(
            "the command line holds several database URLs with different passwords; give "
            "each URL without its password and the passwords in PGPASSWORD or ~/.pgpass"
        )
    if password is None:
        return
    export_password(password)
    own = list(getattr(sys, "orig_argv", []))
    given = sys.argv[1:]
    if given and own[-len(given) :] == given:  # the process's real command line
        prefix = own[1 : len(own) - len(given)]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *prefix, *clean])
    sys.argv[1:] = clean
