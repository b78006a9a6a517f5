"""A throwaway local PostgreSQL server, from Debian's `postgresql` package: the tests' server
(tests/postgres_server.py wraps it in fixtures) and the storage load benchmark's
(`python -m benchmarks.storage_load`).

The server lives in a temporary folder, listens on 127.0.0.1 only (never a routable address)
on a random free port, and has one role with a random password, so two sessions on one
machine never meet. Its binaries come from `.ci/postgres/install.sh`. PostgreSQL refuses to
run as root, so as root the server runs as Debian's `postgres` user (`runuser`); as any other
user it runs as that user. Durability is off (`fsync`, `synchronous_commit`): a throwaway
database, measured for its requests, not its disk.
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
from dataclasses import dataclass, field
from pathlib import Path

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
    extra_settings: dict[str, str] = field(default_factory=dict)  # postgresql.conf, appended
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
            **self.extra_settings,
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# benchmarks/local_postgres.py\n")
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

    def postmaster_pid(self) -> int:
        """The server's main process (first line of postmaster.pid)."""
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

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


def missing_requirement() -> str | None:
    """Why no server can start here (no binaries, no `postgres` user as root), or None."""
    if find_bin_dir() is None:
        return (
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
            "(install them with: bash .ci/postgres/install.sh, as root)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"no '{SERVER_USER}' user to run the server as root"
    return None


def new_server(**extra_settings: str) -> PostgresServer:
    """A server not yet started, in a fresh temporary folder (`extra_settings` go to its
    postgresql.conf). Not pytest's tmp folder: as root that is mode 700, which `postgres`
    cannot enter."""
    bin_dir = find_bin_dir()
    assert bin_dir is not None, missing_requirement()
    folder = Path(tempfile.mkdtemp(prefix="diffexp-pg-"))
    return PostgresServer(bin_dir, folder, extra_settings=dict(extra_settings))
