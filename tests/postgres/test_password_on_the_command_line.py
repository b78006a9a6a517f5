"""A password typed into the storage URL on the command line (issue 22, item 3): the README's
`paths.study_storage=postgresql://user:PW@host/db`, and `hydra.sweeper.storage=` beside it.
A PostgreSQL sweep, `diffexp.analyze --storage <URL>` and phase 2 (`best_of=`) all run with
the password in their arguments; afterwards no file written, no row of the study, no output
and no command line of the sweep's processes (read from /proc while the trials run) holds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from tests.conftest import REPO, subprocess_env
from tests.postgres.test_postgres_workflow import _files_containing

pytestmark = pytest.mark.slow


def _descendants(root_pid: int) -> set[int]:
    """`root_pid` and every process below it (pool workers, their children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return found


class CommandLineWatch(threading.Thread):
    """Reads the command line of the sweep and all its processes every 0.2 s once its first
    trial has a folder (the trials are running), until stopped."""

    def __init__(self, process: subprocess.Popen, started: Path) -> None:
        super().__init__(daemon=True)
        self.process, self.started = process, started
        self.seen: dict[int, bytes] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set() and self.process.poll() is None:
            if any(self.started.rglob("trial_0")):
                for pid in _descendants(self.process.pid):
                    try:
                        self.seen[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
                    except OSError:
                        continue
            time.sleep(0.2)


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_a_password_in_the_url_arguments_is_written_nowhere(postgres_url, tmp_path):
    database = postgres_url
    env = subprocess_env() | {"DIFFEXP_ROOT": str(tmp_path)}
    env.pop("PGPASSWORD", None)
    sweep_command = [
        sys.executable,
        "-m",
        "diffexp.train",
        "-m",
        "hydra/sweeper=optuna",
        "search=phase1",
        "profile=smoke",
        "hydra/launcher=pool",
        f"paths.study_storage={database.url}",
        f"hydra.sweeper.storage={database.url}",
        "hydra.sweeper.pruner.n_startup_trials=2",
    ]
    sweep = subprocess.Popen(
        sweep_command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    watch = CommandLineWatch(sweep, tmp_path / "outputs")
    watch.start()
    sweep_output, _ = sweep.communicate(timeout=600)
    watch.halt.set()
    watch.join()
    assert sweep.returncode == 0, sweep_output.decode()[-3000:]
    trials = optuna.load_study(study_name="phase1-smoke", storage=database.url).trials
    assert len(trials) == 4 and {t.state for t in trials} <= {
        TrialState.COMPLETE,
        TrialState.PRUNED,
    }
    assert sweep.pid in watch.seen  # the sweeper's command line was read while trials ran
    assert len(watch.seen) >= 2  # and its pool workers'
    leaked = [pid for pid, line in watch.seen.items() if database.password.encode() in line]
    assert leaked == [], {pid: watch.seen[pid][:300] for pid in leaked}

    analysis = _run(
        [
            sys.executable,
            "-m",
            "diffexp.analyze",
            "--storage",
            database.url,
            "--study",
            "phase1-smoke",
            "--no-plots",
        ],
        env,
    )
    phase2 = _run(
        [
            sys.executable,
            "-m",
            "diffexp.train",
            "best_of=phase1-smoke",
            "trainer=refine",
            "profile=smoke",
            "experiment_name=phase2",
            f"paths.study_storage={database.url}",
        ],
        env,
    )
    assert list((tmp_path / "outputs" / "runs").glob("*_phase2/training_summary.json"))

    printed = sweep_output.decode() + "".join(p.stdout + p.stderr for p in (analysis, phase2))
    assert database.password not in printed
    assert database.url_without_password in printed.replace("\\", "")  # the URL, shown bare
    written = _files_containing(tmp_path, database.password)
    assert written == []
    assert len(list(tmp_path.rglob("*.yaml"))) > 10  # the run folders were written
    engine = sqlalchemy.create_engine(database.url)
    with engine.connect() as connection:
        for table in sqlalchemy.inspect(connection).get_table_names():
            rows = connection.execute(sqlalchemy.text(f"SELECT * FROM {table}")).fetchall()
            assert not [row for row in rows if database.password in str(row)], table
    engine.dispose()
    assert os.environ.get("DIFFEXP_STORAGE_PASSWORD") is None  # only the children had it
