"""The shared Optuna storage: created by the sweeper, written by every trial job, read by the
analysis and phase 2. The one place a storage URL is opened, two ways:

- `create_storage(url)`: open, creating the SQLite database or journal file if missing (the
  sweeper and trial jobs); raises StorageError;
- `open_study(name, url)` / `load_existing_study`: an existing study, read-only, never
  creating anything (the analysis, `best_of=`, `fix_best_of`); raises StudyError listing the
  studies that do exist.

One URL names the storage everywhere: `sqlite:///outputs/optuna_study.db` (the default,
`paths.study_storage`), `postgresql://…` / `mysql://…` (many nodes), `grpc://host:port`
(Optuna's gRPC storage proxy in front of such a database, `python -m
diffexp.tuning.grpc_proxy`; docs/scaling.md says when), or the path of a journal file (many
processes on one machine or on NFS; the same convention as optuna-dashboard).

A database password never travels in a URL that is written down: the sweeper hands its trials
`url_without_password(url)` and puts the password in the environment (`STORAGE_PASSWORD_ENV`,
which spawned pool workers, submitit jobs and SLURM jobs inherit); every open here puts it
back (`with_password`). PostgreSQL's own `PGPASSWORD` and `.pgpass` work as well, since the
driver reads them itself.

SQLite with 8 trials reporting every epoch: Optuna's RDB storage does not retry a write that
hits "database is locked", and sqlite3's default busy timeout is 5 s. So SQLite gets a 60 s
busy timeout and write-ahead logging (readers never block the writer), and `retry_on_lock`
retries the few storage calls a job makes with bounded backoff as a last resort.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from diffexp.errors import UserError, first_line
from diffexp.secret_args import STORAGE_PASSWORD_ENV, strip_password

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_SECONDS = 60  # sqlite waits this long for a lock before raising
GRPC_SCHEME = "grpc://"  # Optuna's gRPC storage proxy: grpc://<host>:<port>
GRPC_URL_FORM = "grpc://<host>:<port> (where `python -m diffexp.tuning.grpc_proxy` listens)"
GRPC_CONNECT_TIMEOUT_SECONDS = 20  # how long an open waits for a gRPC storage proxy to answer
RETRY_ATTEMPTS = 6  # storage calls retried on a lock error, backoff 0.2 s doubling
_RETRY_FIRST_DELAY_SECONDS = 0.2


def storage_kind(url: str) -> str:
    """'sqlite', 'rdb' (PostgreSQL, MySQL, …), 'grpc' (a gRPC storage proxy) or 'journal' (a
    file path, no scheme)."""
    if "://" not in url:
        return "journal"
    if url.startswith("sqlite:"):
        return "sqlite"
    if url.startswith(GRPC_SCHEME):
        return "grpc"
    return "rdb"


class StorageError(UserError, ValueError):
    """A study storage that cannot be opened: a folder that is a file or not writable, a
    database server that does not answer, an unknown URL scheme. The user fixes the URL."""


def create_storage(url: str, **heartbeat: object) -> BaseStorage:
    """Open the storage at `url`, creating the SQLite database or journal file if missing;
    raise StorageError (one line naming the URL) when it cannot be reached.

    `heartbeat` (`heartbeat_interval`, `grace_period`, `failed_trial_callback`) goes to an RDB
    storage, whose heartbeat Optuna implements; a journal file has none in Optuna 5
    (`diffexp.tuning.liveness` covers it with a trial attribute)."""
    try:
        return _open_storage(with_password(url), heartbeat)
    except (OSError, SQLAlchemyError, ImportError) as error:
        raise StorageError(
            f"study storage {shown_url(url)} cannot be opened ({_first_line(error)}); set "
            "paths.study_storage to a writable sqlite:///<file>.db, a journal file path or a "
            "reachable database URL"
        ) from error


def _open_storage(url: str, heartbeat: dict[str, object]) -> BaseStorage:
    kind = storage_kind(url)
    if kind == "grpc":  # no RDB heartbeat through the proxy: diffexp's trial attribute beats
        return open_grpc_proxy(url)
    if kind == "journal":
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url))
    if kind == "sqlite":
        return _sqlite_storage(url, heartbeat)
    with _quiet_experimental():
        return _retry_schema_race(lambda: RDBStorage(url, **heartbeat))  # type: ignore[arg-type]


def _retry_schema_race(call: Callable[[], T]) -> T:
    """Several sweepers creating one new storage at the same instant: each checks for Optuna's
    tables, finds none and creates them (and Optuna's schema version row), and all but one fail
    with "already exists" or a unique-constraint error. The tables are there by then, so
    opening again succeeds."""
    races = ("already exists", "duplicate key", "unique constraint")
    for attempt in range(3):
        try:
            return call()
        except SQLAlchemyError as error:
            text = str(error).lower()
            if attempt == 2 or not any(race in text for race in races):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _quiet_experimental() -> Iterator[None]:
    """Optuna marks the heartbeat arguments experimental; diffexp relies on them knowingly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def grpc_address(url: str) -> tuple[str, int]:
    """(host, port) of a `grpc://host:port` URL; StorageError (one line) for anything else: the
    proxy takes no user, password, path or query (it holds the database's credentials)."""
    rest = url[len(GRPC_SCHEME) :] if url.startswith(GRPC_SCHEME) else ""
    host, _, port = rest.rpartition(":")  # an IPv6 host keeps its brackets: [::1]:13000
    valid = host and not any(c in host for c in "/@?#") and port.isdigit()
    if not valid or not 0 < int(port) < 65536:
        raise StorageError(f"study storage {url}: not a gRPC proxy address; write {GRPC_URL_FORM}")
    return host, int(port)


def open_grpc_proxy(url: str) -> BaseStorage:
    """A client of Optuna's gRPC storage proxy at `url`, once the proxy answers; StorageError
    (one line) when it does not within `GRPC_CONNECT_TIMEOUT_SECONDS`."""
    from optuna.storages import GrpcStorageProxy

    host, port = grpc_address(url)
    with _quiet_experimental():
        proxy = GrpcStorageProxy(host=host, port=port)
    if not _proxy_answers(proxy, GRPC_CONNECT_TIMEOUT_SECONDS):
        proxy.close()
        raise StorageError(
            f"study storage {url}: no gRPC storage proxy answers there within "
            f"{GRPC_CONNECT_TIMEOUT_SECONDS} s; start one in front of the database with "
            "`python -m diffexp.tuning.grpc_proxy --storage postgresql://user@host/db "
            f"--host {host} --port {port}` (docs/scaling.md)"
        )
    return proxy


def _proxy_answers(proxy: BaseStorage, timeout: float) -> bool:
    """Whether the proxy answers a request within `timeout` s: a study that does not exist is
    an answer. Not `wait_server_ready`: it opens a channel of its own and polls its state every
    0.2 s, which every trial job would pay; this request connects the channel the job uses."""
    import grpc

    deadline = time.monotonic() + timeout
    while True:
        try:
            proxy.get_study_id_from_name("diffexp: is the proxy there")
        except KeyError:
            return True
        except grpc.RpcError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def url_without_password(url: str) -> tuple[str, str | None]:
    """`url` without its password, and the password (None when it has none): the same rule
    that takes a password off the command line (`secret_args.strip_password`), so a URL the
    entrypoint let through is never stripped differently here."""
    bare, found = strip_password(url)
    return bare, (found[0] if found else None)


def with_password(url: str) -> str:
    """`url` with the password from `STORAGE_PASSWORD_ENV` put back, when it names a user but no
    password; otherwise unchanged (the driver may still find PGPASSWORD or .pgpass)."""
    password = os.environ.get(STORAGE_PASSWORD_ENV)
    if not password or storage_kind(url) != "rdb":
        return url
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.username is None or parsed.password is not None:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def shown_url(url: str) -> str:
    """`url` as it may be printed: a database password is masked."""
    if storage_kind(url) != "rdb":
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _first_line(error: BaseException) -> str:
    """OSError's errno text with its file, or the first line of a (multi-line) SQL error."""
    if isinstance(error, FileExistsError | NotADirectoryError) and error.filename:
        return f"{error.filename} is a file, not a folder"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return first_line(error)


def _sqlite_storage(url: str, heartbeat: dict[str, object]) -> RDBStorage:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _enable_wal(path)
    engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}}
    with _quiet_experimental():
        return _retry_schema_race(
            lambda: retry_on_lock(
                lambda: RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)  # type: ignore[arg-type]
            )
        )


def _enable_wal(path: str) -> None:
    """Switch the database file to write-ahead logging once; the mode persists in the file."""

    def switch() -> None:
        with sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS) as connection:
            connection.execute("PRAGMA journal_mode=WAL")

    retry_on_lock(switch)


def is_lock_error(exc: BaseException) -> bool:
    """True for SQLite's transient "database is locked" / "busy" errors, however wrapped."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen).lower()
        if "database is locked" in text or "database is busy" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_on_lock(call: Callable[[], T], attempts: int = RETRY_ATTEMPTS) -> T:
    """Run `call`, retrying with jittered exponential backoff while SQLite reports a lock."""
    delay = _RETRY_FIRST_DELAY_SECONDS
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:  # sqlalchemy/optuna wrap the sqlite error differently
            if attempt == attempts or not is_lock_error(exc):
                raise
            log.warning(
                "storage locked (attempt %d/%d); retrying in %.1f s", attempt, attempts, delay
            )
            time.sleep(delay * (1.0 + random.random()))
            delay *= 2
    raise AssertionError("unreachable")


# ---- existing studies, read-only -------------------------------------------------------

PHASE1_COMMAND = "make phase1"
STORAGE_HINT = "--storage for analyze, paths.study_storage=... for train"


class StudyError(UserError, ValueError):
    """A study or storage the user named cannot be used; the message is one actionable line."""


def open_existing_storage(storage: str) -> BaseStorage:
    """Open an existing storage without creating anything.

    Accepts an RDB URL (sqlite:///…, postgresql://…, mysql://…) or the path of an Optuna
    journal file (the storage for many processes on one machine or NFS).
    """
    if storage_kind(storage) == "journal":
        return _open_journal(storage)
    if storage_kind(storage) == "grpc":
        try:
            return open_grpc_proxy(storage)
        except StorageError as error:
            raise StudyError(str(error)) from error
    shown = shown_url(storage)
    if storage.startswith("sqlite:///"):
        path = storage[len("sqlite:///") :]
        if path != ":memory:" and not Path(path).is_file():
            raise StudyError(
                f"storage {storage}: no such file {path}; "
                f"run `{PHASE1_COMMAND}` first or point at an existing database "
                f"({STORAGE_HINT})"
            )
    # A running sweep writes to SQLite while we read: wait for its lock instead of failing.
    engine_kwargs = (
        {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}}
        if storage_kind(storage) == "sqlite"
        else None
    )
    try:
        return RDBStorage(
            with_password(storage), engine_kwargs=engine_kwargs, skip_table_creation=True
        )
    except Exception as exc:  # sqlalchemy raises many kinds; the user needs one line
        raise StudyError(
            f"storage {shown} is unreachable or not an Optuna storage: {_first_line(exc)}"
        ) from exc


def _open_journal(path: str) -> BaseStorage:
    if not Path(path).is_file():
        raise StudyError(
            f"storage {path}: no such journal file (and not a URL like sqlite:///path.db); "
            f"run `{PHASE1_COMMAND}` first or point at an existing storage "
            f"({STORAGE_HINT})"
        )
    return JournalStorage(JournalFileBackend(path))


def study_names(storage: BaseStorage, storage_url: str) -> list[str]:
    """Names of the studies in the storage, oldest first."""
    try:
        return optuna.get_all_study_names(storage=storage)
    except Exception as exc:
        raise StudyError(
            f"storage {shown_url(storage_url)} is not an Optuna storage: {_first_line(exc)}"
        ) from exc


def load_existing_study(study_name: str | None, storage_url: str) -> optuna.Study:
    """Load `study_name` (or, when None, the most recent study) from the storage."""
    return open_study(study_name, storage_url)[0]


def open_study(study_name: str | None, storage_url: str) -> tuple[optuna.Study, list[str]]:
    """The study (None: the most recent one) and the names of all studies in the storage."""
    storage = open_existing_storage(storage_url)
    names = study_names(storage, storage_url)
    if not names:
        raise StudyError(
            f"storage {shown_url(storage_url)} holds no study; run `{PHASE1_COMMAND}` first"
        )
    if study_name is None:
        study_name = most_recent_study(storage, names)
    elif study_name not in names:
        raise StudyError(
            f"unknown study '{study_name}' in {shown_url(storage_url)}; existing studies: "
            f"{', '.join(names)}"
        )
    return optuna.load_study(study_name=study_name, storage=storage), names


def most_recent_study(storage: BaseStorage, names: list[str]) -> str:
    """The study whose first trial started last (a study without trials counts as oldest)."""
    summaries = optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
    order = {name: index for index, name in enumerate(names)}
    latest = max(
        summaries,
        key=lambda s: (s.datetime_start or datetime.min, order.get(s.study_name, -1)),
    )
    return latest.study_name
