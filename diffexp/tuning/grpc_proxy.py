"""Optuna's gRPC storage proxy in front of the study database, as one command:

    PGPASSWORD=... python -m diffexp.tuning.grpc_proxy \\
        --storage postgresql://user@dbhost/db --host 0.0.0.0 --port 13000

Trials (and the sweeper) then name `paths.study_storage=grpc://<proxy host>:13000`: they hold
one gRPC channel each instead of a pool of database connections, and the proxy answers their
reads of finished trials from its cache (Optuna's `_CachedStorage`), so the database serves one
client, not every worker. When that pays, with figures: docs/scaling.md.

The password is never an argument here either: PGPASSWORD, ~/.pgpass, or diffexp's own
variable; a URL typed with one is cleaned first (`diffexp.secret_args`). The proxy has no
authentication of its own: it listens on 127.0.0.1 unless `--host` names an address, and
anyone who reaches its port reads and writes every study in the database, so give it a
network only the cluster's nodes reach.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import optuna
from optuna.storages import BaseStorage, RDBStorage, get_storage, run_grpc_proxy_server

from diffexp.errors import ConfigError, exit_on_user_error
from diffexp.secret_args import hide_command_line_passwords
from diffexp.tuning.storage import create_storage, shown_url, storage_kind

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"  # only this machine, unless the user names a cluster address
DEFAULT_PORT = 13000  # Optuna's own default port for the proxy
DEFAULT_THREADS = 10  # requests served at once (Optuna's default pool)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m diffexp.tuning.grpc_proxy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--storage",
        required=True,
        help="the study database, postgresql://user@host/db (password via PGPASSWORD/.pgpass)",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="requests served at once"
    )
    return parser.parse_args(argv)


def proxied_storage(url: str) -> BaseStorage:
    """The database behind the proxy, with Optuna's in-process cache of finished trials (what
    the proxy is for); ConfigError for a storage Optuna's proxy cannot serve."""
    kind = storage_kind(url)
    if kind not in ("rdb", "sqlite"):
        raise ConfigError(
            f"--storage {shown_url(url)}: the gRPC proxy serves a database "
            "(postgresql://user@host/db or mysql://...), not a journal file or another proxy"
        )
    storage = create_storage(url)
    assert isinstance(storage, RDBStorage)
    return get_storage(storage)


def serve(url: str, host: str, port: int, threads: int) -> None:
    """Serve the study database at `url` on host:port until interrupted."""
    if not 0 < port < 65536 or threads < 1:
        raise ConfigError(f"--port {port} / --threads {threads}: need 1-65535 and >= 1")
    storage = proxied_storage(url)
    print(
        f"gRPC storage proxy for {shown_url(url)} on {host}:{port}; trials use "
        f"paths.study_storage=grpc://{host}:{port}",
        flush=True,
    )
    try:
        with warnings.catch_warnings():  # experimental in Optuna 5; relied on knowingly
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            run_grpc_proxy_server(
                storage, host=host, port=port, thread_pool=ThreadPoolExecutor(threads)
            )
    except RuntimeError as error:  # grpc: "Failed to bind to address ..."
        raise ConfigError(
            f"--host {host} --port {port}: cannot listen there ({error}); choose a free port"
        ) from error


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Ctrl-C is how a proxy is stopped: no traceback for it
    with exit_on_user_error(), contextlib.suppress(KeyboardInterrupt):
        serve(args.storage, args.host, args.port, args.threads)
    return 0


if __name__ == "__main__":
    hide_command_line_passwords()
    sys.exit(main())
