"""What a PostgreSQL server (and a proxy process) did during a measurement: CPU seconds from
/proc, and the statements, transactions and sessions PostgreSQL counted itself
(pg_stat_statements, pg_stat_database). Linux only; as root, or as the server's user."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy
from sqlalchemy.pool import NullPool

_TICKS = os.sysconf("SC_CLK_TCK")
STATS_FLUSH_SECONDS = 1.5  # backends flush their statistics at most once a second


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd on (state, ppid, ...)


def process_cpu_seconds(pid: int, with_children: bool = False) -> float:
    """utime + stime of `pid` (and of its reaped children: cutime + cstime)."""
    fields = _stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _TICKS


def server_cpu_seconds(postmaster_pid: int) -> float:
    """CPU of the whole server: the postmaster, its live backends and workers, and the
    backends that already exited (counted in the postmaster's children's time)."""
    total = process_cpu_seconds(postmaster_pid, with_children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry.name))[1]) == postmaster_pid:
                total += process_cpu_seconds(int(entry.name))
        except (OSError, ValueError, IndexError):  # exited meanwhile
            continue
    return total


@dataclass(frozen=True)
class DatabaseCounts:
    """Cumulative counters of one database since it was created."""

    statements: int  # pg_stat_statements: every statement executed (BEGIN/COMMIT included)
    transactions: int  # pg_stat_database: commits + rollbacks
    sessions: int  # pg_stat_database: connections established

    def minus(self, other: DatabaseCounts) -> DatabaseCounts:
        return DatabaseCounts(
            self.statements - other.statements,
            self.transactions - other.transactions,
            self.sessions - other.sessions,
        )


class DatabaseStats:
    """Reads one database's counters over a connection of its own (excluded from them)."""

    def __init__(self, url: str, database: str) -> None:
        self._engine = sqlalchemy.create_engine(url, poolclass=NullPool)
        self._database = database
        with self._engine.begin() as connection:
            connection.execute(sqlalchemy.text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))

    def counts(self) -> DatabaseCounts:
        time.sleep(STATS_FLUSH_SECONDS)
        with self._engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_stat_clear_snapshot()"))
            statements = connection.execute(
                sqlalchemy.text(
                    "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
                    "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = :db "
                    "AND s.query NOT LIKE '%pg_stat%'"
                ),
                {"db": self._database},
            ).scalar_one()
            transactions, sessions = connection.execute(
                sqlalchemy.text(
                    "SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database "
                    "WHERE datname = :db"
                ),
                {"db": self._database},
            ).one()
        return DatabaseCounts(int(statements), int(transactions), int(sessions))

    def close(self) -> None:
        self._engine.dispose()
