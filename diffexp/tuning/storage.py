"""Open (and create) the shared Optuna storage that the sweeper and every trial job write to.

One URL names the storage everywhere: `sqlite:///outputs/optuna_study.db` (the default),
`postgresql://…` / `mysql://…` (many nodes), or the path of a journal file (many processes on
one machine or on NFS; the same convention as `analysis_storage` and optuna-dashboard).

SQLite with 8 trials reporting every epoch: Optuna's RDB storage does not retry a write that
hits "database is locked", and sqlite3's default busy timeout is 5 s. So SQLite gets a 60 s
busy timeout and write-ahead logging (readers never block the writer), and `retry_on_lock`
retries the few storage calls a job makes with bounded backoff as a last resort.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_SECONDS = 60  # sqlite waits this long for a lock before raising
RETRY_ATTEMPTS = 6  # storage calls retried on a lock error, backoff 0.2 s doubling
_RETRY_FIRST_DELAY_SECONDS = 0.2


def storage_kind(url: str) -> str:
    """'sqlite', 'rdb' (PostgreSQL, MySQL, …) or 'journal' (a file path, no scheme)."""
    if "://" not in url:
        return "journal"
    if url.startswith("sqlite:"):
        return "sqlite"
    return "rdb"


class StorageError(ValueError):
    """A study storage that cannot be opened: a folder that is a file or not writable, a
    database server that does not answer, an unknown URL scheme. The user fixes the URL."""


def create_storage(url: str) -> BaseStorage:
    """Open the storage at `url`, creating the SQLite database or journal file if missing;
    raise StorageError (one line naming the URL) when it cannot be reached."""
    try:
        return _open_storage(url)
    except (OSError, SQLAlchemyError, ImportError) as error:
        raise StorageError(
            f"study storage {shown_url(url)} cannot be opened ({_first_line(error)}); set "
            "paths.study_storage to a writable sqlite:///<file>.db, a journal file path or a "
            "reachable database URL"
        ) from error


def _open_storage(url: str) -> BaseStorage:
    kind = storage_kind(url)
    if kind == "journal":
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url))
    if kind == "sqlite":
        return _sqlite_storage(url)
    return RDBStorage(url)


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
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _sqlite_storage(url: str) -> RDBStorage:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _enable_wal(path)
    engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}}
    return retry_on_lock(lambda: RDBStorage(url, engine_kwargs=engine_kwargs))


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
