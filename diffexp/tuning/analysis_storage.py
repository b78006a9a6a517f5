"""Open an existing Optuna study read-only, with one-line errors a user can act on.

`optuna.load_study` on a mistyped SQLite path silently creates an empty database and then
fails with a KeyError; phase 2 and the analysis need the opposite: refuse, say what is wrong,
and list the studies that do exist. Both `best_trial` and `analysis` open studies here.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

DEFAULT_STORAGE = "sqlite:///outputs/optuna_study.db"
PHASE1_COMMAND = "make phase1"


class StudyError(ValueError):
    """A study or storage the user named cannot be used; the message is one actionable line."""


def open_storage(storage: str) -> BaseStorage:
    """Open an existing storage without creating anything.

    Accepts an RDB URL (sqlite:///…, postgresql://…, mysql://…) or the path of an Optuna
    journal file (the storage for many processes on one machine or NFS).
    """
    if "://" not in storage:
        return _open_journal(storage)
    if storage.startswith("sqlite:///"):
        path = storage[len("sqlite:///") :]
        if path != ":memory:" and not Path(path).is_file():
            raise StudyError(
                f"storage {storage}: no such file {path}; "
                f"run `{PHASE1_COMMAND}` first or point at an existing database "
                f"({STORAGE_HINT})"
            )
    # A running sweep writes to SQLite while we read: wait for its lock instead of failing.
    engine_kwargs = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else None
    try:
        return RDBStorage(storage, engine_kwargs=engine_kwargs, skip_table_creation=True)
    except Exception as exc:  # sqlalchemy raises many kinds; the user needs one line
        raise StudyError(
            f"storage {storage} is unreachable or not an Optuna storage: {_first_line(exc)}"
        ) from exc


STORAGE_HINT = "--storage for analyze, paths.study_storage=... for train"


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
            f"storage {storage_url} is not an Optuna storage: {_first_line(exc)}"
        ) from exc


def load_existing_study(study_name: str | None, storage_url: str) -> optuna.Study:
    """Load `study_name` (or, when None, the most recent study) from the storage."""
    return open_study(study_name, storage_url)[0]


def open_study(study_name: str | None, storage_url: str) -> tuple[optuna.Study, list[str]]:
    """The study (None: the most recent one) and the names of all studies in the storage."""
    storage = open_storage(storage_url)
    names = study_names(storage, storage_url)
    if not names:
        raise StudyError(f"storage {storage_url} holds no study; run `{PHASE1_COMMAND}` first")
    if study_name is None:
        study_name = most_recent_study(storage, names)
    elif study_name not in names:
        raise StudyError(
            f"unknown study '{study_name}' in {storage_url}; existing studies: {', '.join(names)}"
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
