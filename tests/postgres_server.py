"""A throwaway PostgreSQL server for the tests, from Debian's `postgresql` package.

Why a real server: SQLite and journal files cannot show what a multi-node study does against
the storage users run on clusters (many connections, a password, a network address). The
server lives in a temporary folder, listens on 127.0.0.1 only (never a routable address) on a
random free port, and has one role with a random password, so two test sessions on one
machine never meet. Its binaries come from `.ci/postgres/install.sh`; without them a test
skips and says why (on CI, CI=true, it fails instead: CI must test PostgreSQL).

PostgreSQL refuses to run as root, so as root the server runs as Debian's `postgres` user
(`runuser`); as any other user it runs as that user.

Fixtures (registered for every test by tests/conftest.py):
- `postgres_server` (session): the running `PostgresServer`;
- `postgres_url` (function): a fresh empty database, a `PostgresDatabase`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from tests.ci_gate import unavailable

LOCALHOST = "127.0.0.1"
SERVER_USER = "postgres"  # Debian's system user that owns a server started by root
_BINARIES = ("initdb", "pg_ctl", "postgres", "createdb")


@dataclass(frozen=True)
class PostgresDatabase:
    """One empty database: `url` carries the password; `url_without_password` is the same
    URL for code that must get the password from PGPASSWORD or a .pgpass file instead."""

    url: str
    password: str
    url_without_password: str
    name: str
    user: str
    port: int


def postgres_unavailable(reason: str) -> NoReturn:
    """Skip, saying why; on CI (CI=true) fail instead: CI must run the PostgreSQL tests."""
    unavailable("PostgreSQL", reason)


def find_bin_dir() -> Path | None:
    """Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major_version)
    for folder in reversed(candidates):
        if all(Path(folder, name).exists() for name in _BINARIES):
            return Path(folder)
    return None


def _major_version(folder: str) -> int:
    name = Path(folder).parent.name
    return int(name) if name.isdigit() else 0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    """A server with its own data folder under `root`; `start()` then `stop()`."""

    bin_dir: Path
    root: Path
    user: str = field(default_factory=lambda: f"diffexp_{secrets.token_hex(4)}")
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    port: int = 0
    _databases: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def start(self) -> None:
        """initdb (scram-sha-256 for every connection), then start on 127.0.0.1:<free port>."""
        self.root.mkdir(parents=True, exist_ok=True)
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        self._give_to_server_user(self.root)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--no-sync",
            "--encoding=UTF8",
        )
        password_file.unlink()
        self.port = free_port()
        settings = {
            "listen_addresses": f"'{LOCALHOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",  # a test database: speed over durability
            "synchronous_commit": "off",
            "max_connections": "200",  # every trial job and sweeper opens a pool
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/postgres_server.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-w", "start"
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> PostgresDatabase:
        """A new empty database owned by the test role."""
        self._databases += 1
        name = f"db{self._databases}_{secrets.token_hex(3)}"
        self._run(
            "createdb", "-h", LOCALHOST, "-p", str(self.port), "-U", self.user, name, password=True
        )
        without = f"postgresql://{self.user}@{LOCALHOST}:{self.port}/{name}"
        url = f"postgresql://{self.user}:{self.password}@{LOCALHOST}:{self.port}/{name}"
        return PostgresDatabase(url, self.password, without, name, self.user, self.port)

    def log_text(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _run(self, binary: str, *args: str, password: bool = False) -> None:
        command = [str(self.bin_dir / binary), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        if password:
            env["PGPASSWORD"] = self.password
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, command, done.stdout, done.stderr + self.log_text()[-2000:]
            )

    @staticmethod
    def _give_to_server_user(folder: Path) -> None:
        """As root, hand the folder to `postgres`, which refuses a data folder it cannot own."""
        if os.geteuid() != 0:
            return
        entry = pwd.getpwnam(SERVER_USER)
        for path in (folder, *folder.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        folder.chmod(0o700)


def start_server() -> PostgresServer:
    """Start a server, or skip/fail (CI) saying what is missing."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        postgres_unavailable(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
            "(install them with: bash .ci/postgres/install.sh, as root)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            postgres_unavailable(f"no '{SERVER_USER}' user to run the server as root")
    # Not pytest's tmp folder: as root it is mode 700, which `postgres` cannot enter.
    server = PostgresServer(bin_dir, Path(tempfile.mkdtemp(prefix="diffexp-pg-")))
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
