"""`python -m diffexp.verify` as a user runs it: one-line errors, and (slow) a smoke-trained
run verified end to end."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_module
from tests.verification.test_verify_pipeline import PLOTS


def one_line_error(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("diffexp: error: ")
    return last


def test_a_missing_run_folder_is_refused_and_not_created(tmp_path):
    missing = tmp_path / "no_such_run"
    line = one_line_error(run_module("diffexp.verify", f"run={missing}"))
    assert "no such run folder" in line and str(missing) in line
    assert not missing.exists()


def test_run_is_required():
    assert "run=<training run folder> is required" in one_line_error(run_module("diffexp.verify"))


def test_a_folder_without_weights_is_refused(tmp_path):
    (tmp_path / "empty_run").mkdir()
    line = one_line_error(run_module("diffexp.verify", f"run={tmp_path / 'empty_run'}"))
    assert str(tmp_path / "empty_run") in line
    assert not (tmp_path / "empty_run" / "verification.json").exists()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """A smoke-trained run (seconds of training): the real train entrypoint."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    result = run_module("diffexp.train", "profile=smoke", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr
    return run_dir


@pytest.mark.slow
def test_smoke_verification_writes_every_key_and_plot(smoke_run):
    training_config = (smoke_run / ".hydra" / "config.yaml").read_text()
    result = run_module(
        "diffexp.verify",
        f"run={smoke_run}",
        "visualize=true",
        "steps=10",
        "reconstruction.n_train_events=2000",
    )
    assert result.returncode == 0, result.stderr
    assert "physics score" in result.stdout and "(classifier AUC " in result.stdout
    written = json.loads((smoke_run / "verification.json").read_text())
    assert {
        "run",
        "score",
        "components",
        "sample_sizes",
        "sampler",
        "steps",
        "eta",
        "seed",
        "generation",
        "plots",
        "verification_seconds",
        "data_source",
        "hit_threshold_pe",
        "classifier_auc",
        "headline",
        "single_feature_aucs",
    } <= set(written)
    assert 0.0 <= written["score"] <= 1.0
    # values, not only keys: the headline prints the written score and AUC, and a model
    # trained for seconds is told apart from simulation (docs/physics.md: even the demo
    # model's AUC is 0.6-0.9)
    assert written["headline"] == (
        f"physics score {written['score']:.2f} (classifier AUC {written['classifier_auc']:.2f} "
        f"± {written['classifier_auc_std']:.2f}, floor {written['classifier_floor_auc']:.2f})"
    )
    assert len(written["classifier_aucs"]) == 5  # score.classifier_repeats
    assert written["classifier_auc"] > 0.6
    assert written["score"] < 0.9
    for component in written["components"].values():
        for metric in component["metrics"].values():
            assert 0.0 <= metric["score"] <= 1.0 and metric["raw"] >= 0.0
    assert written["sample_sizes"]["generated"] == 300  # profile=smoke: verify_events
    assert (written["sampler"], written["steps"]) == ("ddim", 10)
    assert written["generation"]["events_per_second"] > 0
    for component in written["components"].values():
        assert component["skipped"] is None
        assert all(
            {"raw", "floor", "floor_noise", "bad", "score"} == set(m)
            for m in component["metrics"].values()
        )
    assert written["plots"] == PLOTS
    for name in PLOTS.values():
        assert (smoke_run / name).stat().st_size > 5_000
    # the run's own training config is untouched (Hydra writes no .hydra/ for verify)
    assert (smoke_run / ".hydra" / "config.yaml").read_text() == training_config


@pytest.mark.slow
def test_weights_that_do_not_match_the_config_are_refused(smoke_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(smoke_run, broken)
    config = broken / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("hidden_dim: ", "hidden_dim: 1", 1))
    line = one_line_error(run_module("diffexp.verify", f"run={broken}"))
    assert str(broken) in line or "weights" in line


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, words",
    [("steps=5000", ("steps=5000",)), ("sampler=euler", ("sampler='euler'", "ddim"))],
)
def test_impossible_sampling_settings_are_one_line(smoke_run, override, words):
    line = one_line_error(run_module("diffexp.verify", f"run={smoke_run}", override))
    for word in words:
        assert word in line, line
