"""The official sweeper's example apps through diffexp's sweeper, compared with the official.

Each app runs as its author wrote it (vendored verbatim, see tests/tuning/official/README.md);
only `hydra/sweeper` changes. With one trial at a time and a seeded sampler both sweepers
ask the same trials, so the trials, the best values and `optimization_results.yaml` must be
the same, on every launcher.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dropin_helpers import (
    EXAMPLES,
    OFFICIAL,
    assert_ok,
    results,
    run_app,
    trial_params,
)

pytestmark = pytest.mark.slow

N_TRIALS = 5

APPS = {
    # app: (script, study_name in its config, extra overrides)
    "sphere": ("sphere.py", "sphere", ()),
    "multi-objective": ("multi-objective.py", "multi-objective", ()),
    "custom-search-space": (
        "custom-search-space-objective.py",
        "custom-search-space",
        ("hydra.job.chdir=True",),  # as the official test runs it
    ),
}
LAUNCHERS = ["basic", "pool", "submitit_local"]


def _run(app: str, where: Path, sweeper: str, launcher: str):
    script, study_name, extra = APPS[app]
    storage = f"sqlite:///{where / 'study.db'}"
    process = run_app(
        EXAMPLES / script,
        where / "sweep",
        f"hydra.sweeper.n_trials={N_TRIALS}",
        f"hydra.sweeper.storage={storage}",
        *extra,
        sweeper=sweeper,
        launcher=launcher,
    )
    assert_ok(process)
    return process, results(where / "sweep"), trial_params(storage, study_name)


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The official sweeper's results per app (basic launcher), computed once."""
    cache = {}

    def get(app: str):
        if app not in cache:
            cache[app] = _run(app, tmp_path_factory.mktemp(f"official-{app}"), OFFICIAL, "basic")
        return cache[app]

    return get


@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize("app", list(APPS))
def test_example_matches_the_official_sweeper(app, launcher, official, tmp_path):
    if launcher == "submitit_local" and app != "sphere":
        pytest.skip("submitit_local: one app is enough (a process per trial is slow)")
    _, expected_results, expected_trials = official(app)
    process, got_results, got_trials = _run(app, tmp_path, "diffexp_optuna", launcher)
    assert got_trials == expected_trials
    assert got_results == expected_results
    if app == "multi-objective":
        assert got_results["solutions"]
    else:
        output = process.stdout + process.stderr
        assert f"Best value: {got_results['best_value']}" in output  # scripts grep these lines
        assert "Best parameters: " in output
