"""How many trial workers one PostgreSQL study database serves, measured on a real local
server, directly and through Optuna's gRPC storage proxy:

    python -m benchmarks.storage_load [--clients 2,8,32] [--seconds 15] [--variants direct,proxy]

For each variant and client count: a fresh database on a throwaway server
(`benchmarks.local_postgres`), the study created as the sweeper creates it, then N client
processes (forked, each its own connections or gRPC channel) wait at a barrier and run
simulated trials (`benchmarks.storage_trials`: a real trial's storage requests, no training)
back to back for `--seconds`. The clients saturate the storage: no trial sleeps. Measured:

- statements per trial as the server counts them (pg_stat_statements, BEGIN/COMMIT
  included), transactions and new connections (sessions) per trial (pg_stat_database);
- seconds per ask / open / report (report + should_prune) / tell: median and p95;
- trials per second finished, and CPU seconds of the server (and of the proxy) per trial;
- the workers one database serves: a real trial takes `--trial-seconds` (default 12 s, a
  default-profile trial's 10 epochs, docs/benchmarks.md), so one worker asks for
  1/trial_seconds trials/s; workers served = trials/s sustained x trial_seconds.

Clients, server and proxy share this machine's cores, so the figures are a floor of what a
database on its own host serves; the server's CPU per trial is the figure that carries over.
Writes JSON (`--out`) and prints a Markdown table. `make bench` runs it as its `storage_load`
section (`run`), in a subprocess: the bench process has TensorFlow loaded, and the clients are
forked.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import optuna

from benchmarks.local_postgres import PostgresServer, free_port, missing_requirement, new_server
from benchmarks.server_usage import DatabaseStats, process_cpu_seconds, server_cpu_seconds
from benchmarks.storage_trials import OPERATIONS, ClientTimings, SimulatedSlot, create_study

DEFAULT_CLIENTS = (2, 8, 32)
DEFAULT_SECONDS = 15.0  # measured window per run (after every client has started)
DEFAULT_EPOCHS = 10  # reports per trial: phase 1's 10 epochs
DEFAULT_TRIAL_SECONDS = 12.0  # a default-profile trial's epochs (docs/benchmarks.md)
PROXY_THREADS = 10  # the proxy's request threads (its default)
SERVER_SETTINGS = {
    "shared_preload_libraries": "'pg_stat_statements'",  # statements per trial
    "track_counts": "on",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage_load", description=None)
    parser.add_argument("--clients", default=",".join(map(str, DEFAULT_CLIENTS)))
    parser.add_argument("--variants", default="direct,proxy", help="direct, proxy or both")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--trial-seconds", type=float, default=DEFAULT_TRIAL_SECONDS)
    parser.add_argument("--out", type=Path, default=Path("outputs/bench/storage_load.json"))
    return parser.parse_args(argv)


def _client(url, epochs, seed, seconds, barrier, ask_lock, results) -> None:
    """One client process: open as a sweeper does, wait for all to be ready and for the
    counters to be read, run trials until the end."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    slot = SimulatedSlot(url, epochs, seed, ask_lock)
    timings = ClientTimings()
    barrier.wait()  # ready
    barrier.wait()  # go
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        slot.run_trial(timings)
    slot.close()
    results.put(asdict(timings) | {"finished": time.time()})


def _start_proxy(url_without_password: str, password: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = os.environ | {"PGPASSWORD": password}
    command = [sys.executable, "-m", "diffexp.tuning.grpc_proxy", "--storage"]
    command += [url_without_password, "--port", str(port), "--threads", str(PROXY_THREADS)]
    proxy = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proxy, f"grpc://127.0.0.1:{port}"


def measure(server: PostgresServer, variant: str, clients: int, args) -> dict:
    """One run: a fresh database, `clients` processes for `args.seconds`, the counts."""
    database = server.create_database()
    stats = DatabaseStats(database.url, database.name)
    create_study(database.url)
    proxy, url = None, database.url
    if variant == "proxy":
        proxy, url = _start_proxy(database.url_without_password, database.password)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(clients + 1), context.Queue()
    ask_lock = context.Lock()
    processes = [
        context.Process(
            target=_client,
            args=(url, args.epochs, seed, args.seconds, barrier, ask_lock, results),
        )
        for seed in range(clients)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=600)  # every client has started and opened its study
    before = stats.counts()
    cpu_before = server_cpu_seconds(server.postmaster_pid())
    proxy_before = process_cpu_seconds(proxy.pid) if proxy else 0.0
    started = time.time()
    barrier.wait(timeout=60)
    finished = [results.get(timeout=args.seconds + 600) for _ in processes]
    cpu = server_cpu_seconds(server.postmaster_pid()) - cpu_before
    proxy_cpu = process_cpu_seconds(proxy.pid) - proxy_before if proxy else None
    for process in processes:
        process.join()
    wall = max(r["finished"] for r in finished) - started
    counts = stats.counts().minus(before)
    stats.close()
    if proxy is not None:
        proxy.terminate()
        proxy.wait(timeout=30)
    return summarize(variant, clients, finished, wall, counts, cpu, proxy_cpu, args)


def summarize(variant, clients, finished, wall, counts, cpu, proxy_cpu, args) -> dict:
    trials = sum(r["trials"] for r in finished)
    reports = sum(len(r["seconds"]["report"]) for r in finished)
    row = {
        "variant": variant,
        "clients": clients,
        "trials": trials,
        "pruned": sum(r["pruned"] for r in finished),
        "reports_per_trial": round(reports / trials, 2),
        "seconds": round(wall, 2),
        "trials_per_second": round(trials / wall, 2),
        "statements_per_trial": round(counts.statements / trials, 1),
        "transactions_per_trial": round(counts.transactions / trials, 1),
        "connections_per_trial": round(counts.sessions / trials, 2),
        "server_cpu_seconds_per_trial": round(cpu / trials, 4),
        "server_cpu_share": round(cpu / wall, 2),  # cores the server kept busy
        "proxy_cpu_seconds_per_trial": None if proxy_cpu is None else round(proxy_cpu / trials, 4),
        "workers_served": round(trials / wall * args.trial_seconds),
    }
    for operation in OPERATIONS:
        values = sorted(v for r in finished for v in r["seconds"][operation])
        row[f"{operation}_ms_median"] = round(1000 * statistics.median(values), 1)
        row[f"{operation}_ms_p95"] = round(1000 * values[int(0.95 * (len(values) - 1))], 1)
    return row


COLUMNS = (
    ("variant", "variant"),
    ("clients", "clients"),
    ("trials/s", "trials_per_second"),
    ("statements/trial", "statements_per_trial"),
    ("connections/trial", "connections_per_trial"),
    ("ask ms (med/p95)", "ask"),
    ("in lock ms", "in_lock"),
    ("open ms", "open"),
    ("report ms", "report"),
    ("tell ms", "tell"),
    ("server CPU s/trial", "server_cpu_seconds_per_trial"),
    ("proxy CPU s/trial", "proxy_cpu_seconds_per_trial"),
    ("workers served", "workers_served"),
)


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(title for title, _ in COLUMNS) + " |"]
    lines.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        cells = []
        for _, key in COLUMNS:
            if key in OPERATIONS:
                cells.append(f"{row[f'{key}_ms_median']} / {row[f'{key}_ms_p95']}")
            else:
                cells.append("-" if row[key] is None else str(row[key]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def measure_all(args: argparse.Namespace) -> dict:
    missing = missing_requirement()
    if missing is not None:
        raise SystemExit(f"storage_load: {missing}")
    server = new_server(**SERVER_SETTINGS)
    server.start()
    rows = []
    try:
        for variant in args.variants.split(","):
            for clients in (int(n) for n in args.clients.split(",")):
                rows.append(measure(server, variant, clients, args))
                print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        server.stop()
    return {
        "command": "python -m benchmarks.storage_load " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "trial_seconds": args.trial_seconds,
        "epochs": args.epochs,
        "seconds_per_run": args.seconds,
        "rows": rows,
    }


SECTION_FIGURES = (  # per variant and client count, in the bench's figures table
    ("trials/s", "trials_per_second", "trials/s"),
    ("statements/trial", "statements_per_trial", "statements"),
    ("workers served", "workers_served", f"workers at {DEFAULT_TRIAL_SECONDS:g} s/trial"),
)


def run(ctx) -> dict:
    """The `storage_load` section of `make bench` (clients and seconds from the size)."""
    missing = missing_requirement()
    if missing is not None:
        return {"available": False, "reason": missing, "figures": {}}
    out = ctx.work_dir / "storage_load.json"
    clients = ",".join(str(n) for n in ctx.size.storage_clients)
    command = [sys.executable, "-m", "benchmarks.storage_load", "--clients", clients]
    command += ["--seconds", str(ctx.size.storage_seconds), "--out", str(out)]
    subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1], timeout=3600)
    results = json.loads(out.read_text())
    figures = {
        f"{row['variant']}, {row['clients']} clients: {name}": {"median": row[key], "unit": unit}
        for row in results["rows"]
        for name, key, unit in SECTION_FIGURES
    }
    return {"figures": figures, "details": results}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = measure_all(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results["rows"]))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
