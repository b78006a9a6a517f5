"""End to end: `python -m diffexp.train -m hydra/sweeper=optuna search=phase1 profile=smoke`."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

pytestmark = pytest.mark.slow


def test_phase1_smoke_sweep_completes_and_prunes(tmp_path):
    from tests.conftest import REPO, subprocess_env

    env = subprocess_env() | {"DIFFEXP_ROOT": str(tmp_path)}
    # TPE is seeded (seed=1234), so the same trials are proposed every time; with 4 epochs
    # and pruning from epoch 2 after 2 complete trials, the low-lr trials 4 and 5 are pruned.
    command = [
        sys.executable,
        "-m",
        "diffexp.train",
        "-m",
        "hydra/sweeper=optuna",
        "search=phase1",
        "profile=smoke",
        "hydra/launcher=pool",  # as `make phase1` runs it: two warm workers, not six processes
        "profile.n_trials=6",
        "profile.epochs=4",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra.sweeper.pruner.n_warmup_steps=1",
    ]
    process = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    storage = f"sqlite:///{tmp_path / 'outputs' / 'optuna_study.db'}"
    trials = optuna.load_study(study_name="phase1-smoke", storage=storage).trials
    states = [t.state for t in trials]
    assert len(trials) == 6
    assert TrialState.COMPLETE in states and TrialState.PRUNED in states
    assert TrialState.FAIL not in states
    for trial in trials:
        assert set(trial.params) == {"optimizer.lr", "model.hidden_dim", "model.t_emb_dim"}
        assert len(trial.intermediate_values) >= 1
    (sweep,) = (tmp_path / "outputs" / "sweeps").iterdir()
    for trial in trials:
        record = json.loads((sweep / f"trial_{trial.number}" / "trial.json").read_text())
        assert record["state"] == trial.state.name
    assert (sweep / "optimization_results.yaml").is_file()
