"""The tests' throwaway PostgreSQL server (`benchmarks.local_postgres`, shared with the storage
load benchmark), as fixtures.

Why a real server: SQLite and journal files cannot show what a multi-node study does against
the storage users run on clusters (many connections, a password, a network address). Without
the binaries of `.ci/postgres/install.sh` a test skips and says why (on CI, CI=true, it fails
instead: CI must test PostgreSQL).

Fixtures (registered for every test by tests/conftest.py):
- `postgres_server` (session): the running `PostgresServer`;
- `postgres_url` (function): a fresh empty database, a `PostgresDatabase`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest

from benchmarks.local_postgres import (
    LOCALHOST,
    PostgresDatabase,
    PostgresServer,
    free_port,
    missing_requirement,
    new_server,
)
from tests.ci_gate import unavailable

__all__ = ["LOCALHOST", "PostgresDatabase", "PostgresServer", "free_port", "start_server"]


def postgres_unavailable(reason: str) -> NoReturn:
    """Skip, saying why; on CI (CI=true) fail instead: CI must run the PostgreSQL tests."""
    unavailable("PostgreSQL", reason)


def start_server() -> PostgresServer:
    """Start a server, or skip/fail (CI) saying what is missing."""
    missing = missing_requirement()
    if missing is not None:
        postgres_unavailable(missing)
    server = new_server()
    try:
        server.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        details = getattr(error, "stderr", "") or str(error)
        server.stop()
        postgres_unavailable(f"could not start PostgreSQL: {details.strip()[-400:]}")
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session (127.0.0.1, random port/password)."""
    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> PostgresDatabase:
    """A fresh empty database on the session's server: `.url`, `.password`,
    `.url_without_password` (for PGPASSWORD / .pgpass)."""
    return postgres_server.create_database()
