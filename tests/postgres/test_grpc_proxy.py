"""A real sweep through Optuna's gRPC storage proxy in front of a real PostgreSQL database
(`python -m diffexp.tuning.grpc_proxy`, `paths.study_storage=grpc://host:port`): the trials
land in the database with their values, parameters, reports and heartbeats, and the database
password reaches the proxy only through the environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from diffexp.names import HEARTBEAT_ATTR
from diffexp.tuning.storage import load_existing_study
from tests.conftest import REPO, subprocess_env
from tests.postgres_server import free_port
from tests.tuning.sweep_helpers import tiny_sweep_command

pytestmark = pytest.mark.slow

EPOCHS = 4  # the tiny app's epochs per trial (tests/tuning/tiny_app/conf/config.yaml)


def _start_proxy(database, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "diffexp.tuning.grpc_proxy", "--storage"]
    command += [database.url_without_password, "--port", str(port)]
    env = subprocess_env() | {"PGPASSWORD": database.password}
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _loss(x: float, epoch: int) -> float:
    """The tiny app's validation loss (tests/tuning/tiny_app/app.py)."""
    return (x - 0.3) ** 2 + 1.0 / epoch


def test_a_sweep_through_the_grpc_proxy_lands_in_postgres(postgres_url, tmp_path: Path):
    port = free_port()
    proxy = _start_proxy(postgres_url, port)
    try:
        command = tiny_sweep_command(
            f"grpc://127.0.0.1:{port}", "profile.n_trials=3", launcher="pool"
        )
        sweep = subprocess.run(
            command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300
        )
        assert sweep.returncode == 0, sweep.stdout[-3000:] + sweep.stderr[-3000:]
        cmdline = Path(f"/proc/{proxy.pid}/cmdline").read_bytes()
        read_back = load_existing_study("tiny", f"grpc://127.0.0.1:{port}")  # analyze, phase 2
        assert len(read_back.trials) == 3
    finally:
        proxy.terminate()
        proxy_output = proxy.communicate(timeout=30)[0]

    study = optuna.load_study(study_name="tiny", storage=postgres_url.url)  # the database itself
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for trial in trials:
        x = trial.params["task.x"]
        assert 0.0 <= x <= 1.0
        assert trial.intermediate_values == pytest.approx(
            {epoch: _loss(x, epoch) for epoch in range(1, EPOCHS + 1)}
        )
        assert trial.values == pytest.approx([_loss(x, EPOCHS)])  # the best epoch's loss
        assert HEARTBEAT_ATTR in trial.system_attrs  # liveness beats through the proxy
    assert len({t.params["task.x"] for t in trials}) == 3
    assert postgres_url.password.encode() not in cmdline
    assert postgres_url.password not in proxy_output + sweep.stdout + sweep.stderr
    assert f"127.0.0.1:{port}" in proxy_output  # it said where it listens
