"""One sweeper at a time decides what runs next in a study, across processes and machines.

Several sweepers on one study (several submit nodes, or a sweeper restarted while its jobs
run) each count the study's trials and ask a new one only while fewer than `n_trials` count.
Counting and asking must be one step, or two sweepers that count at the same instant both
ask, and two grid points can be drawn twice. So the count, `study.ask` and the sampler's
suggestions happen under a lock that every sweeper of the study takes, held for milliseconds:

- PostgreSQL: a session advisory lock (`pg_advisory_lock`) keyed by the study name; MySQL:
  `GET_LOCK`; both are released by the server when the holder's connection dies;
- SQLite and journal files: Optuna's NFS-safe lock file (`JournalFileOpenLock`, an O_EXCL
  file beside the storage, removed if its holder died more than 30 s ago);
- a gRPC storage proxy (`grpc://`): the proxy offers no lock, so the lock holds among this
  sweeper's slots only; one sweeper per study drives a study through a proxy (docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from optuna.storages.journal import JournalFileOpenLock

from diffexp.tuning.storage import storage_kind, with_password

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".sweeper"  # `<storage file>.sweeper.lock` while a sweeper holds it


class StudyLock:
    """A lock shared by every sweeper of `study_name` in the storage at `url`."""

    def __init__(self, url: str, study_name: str) -> None:
        self._threads = threading.Lock()  # the slots of this sweeper
        self._key = _lock_key(study_name)
        self._engine = None
        self._file: JournalFileOpenLock | None = None
        kind = storage_kind(url)
        if kind == "journal":
            self._file = JournalFileOpenLock(str(Path(url)) + LOCK_SUFFIX)
        elif kind == "grpc":
            log.info("study storage behind a gRPC proxy: run one sweeper per study through it")
        elif kind == "sqlite":
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                self._file = JournalFileOpenLock(path + LOCK_SUFFIX)
        else:
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            self._engine = sqlalchemy.create_engine(with_password(url), poolclass=NullPool)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            if self._file is not None:
                self._file.acquire()
                try:
                    yield
                finally:
                    self._file.release()
            elif self._engine is not None:
                with self._server_lock():
                    yield
            else:
                yield

    @contextlib.contextmanager
    def _server_lock(self) -> Iterator[None]:
        import sqlalchemy

        assert self._engine is not None
        dialect = self._engine.dialect.name
        with self._engine.connect() as connection:
            if dialect == "postgresql":
                connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
                unlock = "SELECT pg_advisory_unlock(:k)"
            elif dialect in ("mysql", "mariadb"):
                connection.execute(
                    sqlalchemy.text("SELECT GET_LOCK(:k, -1)"), {"k": f"diffexp-{self._key}"}
                )
                unlock = "SELECT RELEASE_LOCK(:k)"
            else:
                log.warning(
                    "no study lock for %s: several sweepers may overshoot n_trials", dialect
                )
                unlock = ""
            try:
                yield
            finally:
                if unlock:
                    key = self._key if dialect == "postgresql" else f"diffexp-{self._key}"
                    connection.execute(sqlalchemy.text(unlock), {"k": key})
                    connection.commit()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _lock_key(study_name: str) -> int:
    """A signed 63-bit key (PostgreSQL's advisory locks take a bigint) from the study name."""
    digest = hashlib.sha256(f"diffexp-study:{study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
