"""The whole workflow on a real PostgreSQL server (issue 16, item 5): a phase-1 sweep with
the pool launcher, `diffexp.analyze`, phase 2 (`best_of=`) and optuna-dashboard, with the
password given only through the environment, and found afterwards in no file and no output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import REPO, subprocess_env
from tests.postgres_server import free_port

pytestmark = pytest.mark.slow

STORAGE_ENV = "DIFFEXP_TEST_STORAGE"  # the URL with its password, read by ${oc.env:…}


def _run(command: list[str], env: dict[str, str], timeout: float = 600):
    process = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return process


def _files_containing(root: Path, secret: str) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and secret.encode() in path.read_bytes():
            hits.append(str(path.relative_to(root)))
    return hits


def test_sweep_analyze_phase2_and_dashboard_on_postgres_never_write_the_password(
    postgres_url, tmp_path
):
    database = postgres_url
    env = subprocess_env() | {"DIFFEXP_ROOT": str(tmp_path), STORAGE_ENV: database.url}
    from_env = f"paths.study_storage=${{oc.env:{STORAGE_ENV}}}"
    sweep = _run(
        [
            sys.executable,
            "-m",
            "diffexp.train",
            "-m",
            "hydra/sweeper=optuna",
            "search=phase1",
            "profile=smoke",
            "hydra/launcher=pool",
            from_env,
            "hydra.sweeper.pruner.n_startup_trials=2",
            "hydra.sweeper.pruner.n_warmup_steps=0",
        ],
        env,
    )
    study = optuna.load_study(study_name="phase1-smoke", storage=database.url)
    states = [t.state for t in study.trials]
    assert len(states) == 4  # profile=smoke: n_trials 4
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert states.count(TrialState.COMPLETE) >= 2

    # analyze and the dashboard as a user runs them: a URL without the password + PGPASSWORD
    pg_env = {k: v for k, v in env.items() if k != STORAGE_ENV} | {"PGPASSWORD": database.password}
    analysis = _run(
        [
            sys.executable,
            "-m",
            "diffexp.analyze",
            "--storage",
            database.url_without_password,
            "--study",
            "phase1-smoke",
        ],
        pg_env,
    )
    (report_file,) = (tmp_path / "outputs").rglob("diffusion_hyperopt_results.json")
    report = json.loads(report_file.read_text())
    assert report["study_name"] == "phase1-smoke"
    assert report["counts"]["COMPLETE"] == states.count(TrialState.COMPLETE)

    phase2 = _run(
        [
            sys.executable,
            "-m",
            "diffexp.train",
            "best_of=phase1-smoke",
            "trainer=refine",
            "profile=smoke",
            "experiment_name=phase2",
            from_env,
        ],
        env,
    )
    (summary_file,) = (tmp_path / "outputs" / "runs").rglob("*_phase2/training_summary.json")
    summary = json.loads(summary_file.read_text())
    assert summary["best_of"]["trial_number"] == study.best_trial.number

    port = free_port()
    dashboard = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "optuna-dashboard"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            database.url_without_password,
        ],
        env=pg_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        studies = _dashboard_studies(port, dashboard)
    finally:
        dashboard.terminate()
        dashboard_output, _ = dashboard.communicate(timeout=30)
    assert [s["study_name"] for s in studies] == ["phase1-smoke"]

    outputs = [sweep, analysis, phase2]
    printed = "".join(p.stdout + p.stderr for p in outputs) + dashboard_output
    assert database.password not in printed
    assert _files_containing(tmp_path, database.password) == []
    assert "***" in printed or database.url_without_password in printed  # URLs shown masked


def _dashboard_studies(port: int, dashboard: subprocess.Popen) -> list[dict]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if dashboard.poll() is not None:
            raise AssertionError(f"optuna-dashboard exited: {dashboard.stdout.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                return json.loads(r.read())["study_summaries"]
        except OSError:
            time.sleep(0.5)
    raise AssertionError("optuna-dashboard did not answer")


def test_password_in_the_storage_url_reaches_no_trial_override(postgres_url, tmp_path):
    """The sweeper hands trials the URL without its password (the job gets it from the
    environment), so Hydra's per-trial overrides.yaml cannot record it."""
    from tests.tuning.sweep_helpers import tiny_sweep_command

    env = subprocess_env() | {STORAGE_ENV: postgres_url.url}
    command = tiny_sweep_command(
        f"${{oc.env:{STORAGE_ENV}}}", "profile.n_trials=2", "hydra/sweeper/pruner=none"
    )
    process = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    trials = optuna.load_study(study_name="tiny", storage=postgres_url.url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    overrides = (tmp_path / "sweeps" / "run" / "trial_0" / ".hydra" / "overrides.yaml").read_text()
    assert postgres_url.url_without_password in overrides.replace("\\", "")
    assert _files_containing(tmp_path, postgres_url.password) == []
    assert postgres_url.password not in process.stdout + process.stderr
    assert os.environ.get("DIFFEXP_STORAGE_PASSWORD") is None  # set in the sweeper only
