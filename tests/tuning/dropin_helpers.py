"""Run the official example apps (vendored in tests/tuning/official/example) under a sweeper."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

from tests.conftest import REPO, subprocess_env

EXAMPLES = Path(__file__).resolve().parent / "official" / "example"
OFFICIAL_TESTS_CONF = EXAMPLES.parent / "tests_conf"  # the official tests/conf
FOREIGN_APP = Path(__file__).resolve().parent / "foreign_app" / "app.py"
DIFFEXP = "diffexp_optuna"
OFFICIAL = "optuna"


def run_app(
    app: Path, sweep_dir: Path, *overrides: str, sweeper: str = DIFFEXP, launcher: str = "basic"
) -> subprocess.CompletedProcess:
    """`app -m` with `hydra/sweeper=<sweeper>` and `hydra/launcher=<launcher>` in sweep_dir."""
    command = [
        sys.executable,
        str(app),
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra/sweeper={sweeper}",
        f"hydra/launcher={launcher}",
        *overrides,
    ]
    if launcher == "pool":  # diffexp's pool launcher is configured in diffexp's conf/
        command.append(f"hydra.searchpath=[file://{REPO / 'conf'}]")
    return subprocess.run(
        command,
        cwd=sweep_dir.parent,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def results(sweep_dir: Path) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))


def trial_params(storage: str, study_name: str) -> list[dict[str, Any]]:
    """Params of every trial, in trial order."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    return [t.params for t in sorted(study.trials, key=lambda t: t.number)]


def assert_ok(process: subprocess.CompletedProcess) -> None:
    assert process.returncode == 0, process.stderr[-3000:]
