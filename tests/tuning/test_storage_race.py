"""Several sweepers creating one new SQLite storage at the same instant (N submit nodes started
together): each finds no Optuna tables and creates them, and all but one used to fail with
"UNIQUE constraint failed: alembic_version.version_num". Every one must open it."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import subprocess_env

OPEN_AT = """
import sys, time
import optuna
from diffexp.tuning.storage import create_storage
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
storage = create_storage(sys.argv[1], heartbeat_interval=1, grace_period=4)
optuna.create_study(study_name="race", storage=storage, load_if_exists=True)
print("opened")
"""


def test_storage_created_by_three_processes_at_once_opens_in_each(tmp_path):
    for attempt in range(3):  # the race is timing-dependent: three fresh files
        url = f"sqlite:///{tmp_path / f'race{attempt}.db'}"
        start = time.time() + 4.0  # all three have imported by then
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_AT, url, str(start)],
                env=subprocess_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        for process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0 and out.strip() == "opened", err[-2000:]
