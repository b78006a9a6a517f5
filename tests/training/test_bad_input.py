"""Impossible values stop before training with one line naming the key, a non-zero exit,
and nothing written (not even a run folder)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import run_module


def _id(case) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


CASES = [
    ("optimizer.lr=-1", "optimizer.lr=-1.0 is out of range; allowed: a number > 0"),
    ("model.hidden_dim=0", "model.hidden_dim=0 is out of range; allowed: an integer >= 1"),
    ("validation.n_batches=0", "validation.n_batches=0 is out of range"),
    ("optimizer=sgd", "unknown option 'sgd' for config group 'optimizer'; allowed: adam, adamw"),
    ("schedule=linear", "allowed: constant, cosine, cosine_restarts, cyclical"),
    ("optimizer.lr=abc", "optimizer.lr='abc' has the wrong type: expected a number"),
    ("trainer.epochs=2.5", "trainer.epochs=2.5 has the wrong type: expected an integer"),
    ("nosuchkey=3", "Could not override 'nosuchkey': no such key"),
    ("+model._target_=os.system", "model._target_ is refused"),
    ("optimizer.accumulation_steps=3", "must be divisible by optimizer.accumulation_steps=3"),
    ("schedule=cyclical schedule.mode=foo", "schedule.mode='foo' is not allowed"),
    ("model.name=foo", "model.name='foo' is not an installed denoiser; installed: mlp, pmt"),
    ("model=pmt model.prior=foo", "model.prior='foo' is not allowed"),
    ("model.name=os.system", "model.name='os.system' is not an installed denoiser"),
    ("+model.factory=os.system", "denoiser 'pmt' (diffexp 0.1.0) takes no key model.factory"),
    ("-m hydra/sweeper=optuna search=phase1 schedule=cyclical schedule.mode=foo", "schedule.mode"),
    pytest.param(  # Optuna would import PyTorch only after 10 trials, and fail there
        "-m hydra/sweeper=optuna hydra/sweeper/sampler=gp optimizer.lr=interval(1e-4,1e-2)",
        "hydra/sweeper/sampler=gp (optuna.samplers.GPSampler) needs torch",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("torch") is not None, reason="PyTorch is installed here"
        ),
    ),
]


@pytest.mark.parametrize("override,message", CASES, ids=[_id(c) for c in CASES])
def test_bad_override_fails_with_one_line_and_writes_nothing(override, message, tmp_path):
    out = tmp_path / "outputs"
    proc = run_module(
        "diffexp.train", *override.split(), "profile=smoke", f"paths.output_dir={out}"
    )
    assert proc.returncode == 2
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("diffexp: error:")]
    assert len(error_lines) == 1, proc.stderr
    assert message in error_lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_cfg_job_prints_the_composed_config():
    proc = run_module("diffexp.train", "optimizer.lr=5e-5", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr
    assert "lr: 5.0e-05" in proc.stdout
    assert "hidden_dim:" in proc.stdout and "name: cosine" in proc.stdout


def test_the_checked_options_are_the_ones_the_code_reads():
    from diffexp import config_checks
    from diffexp.models.detector_prior import PRIOR_MODES
    from diffexp.training.schedules import CYCLICAL_MODES

    assert set(config_checks.PRIOR_MODES) == set(PRIOR_MODES)
    assert set(config_checks.CYCLICAL_MODES) == set(CYCLICAL_MODES)


def test_a_search_file_with_another_samplers_keys_names_the_key(tmp_path):
    """A search file of the user's that sets TPE's keys under `sampler:` itself (not through a
    `hydra/sweeper/sampler` option, as conf/search does), run with another sampler: Hydra's
    first line ends at 'composing config:', so the line must carry the reason after it."""
    search = tmp_path / "conf" / "search"
    search.mkdir(parents=True)
    (search / "mine.yaml").write_text(
        "# @package _global_\n"
        "hydra:\n  sweeper:\n    sampler:\n      constant_liar: true\n"
        "    params:\n      optimizer.lr: tag(log, interval(1e-4, 1e-2))\n"
    )
    out = tmp_path / "outputs"
    proc = run_module(
        "diffexp.train",
        "-m",
        f"--config-dir={tmp_path / 'conf'}",
        "hydra/sweeper=optuna",
        "search=mine",
        "hydra/sweeper/sampler=random",
        "profile=smoke",
        f"paths.output_dir={out}",
    )
    assert proc.returncode == 2
    assert "Key 'constant_liar' not in 'RandomSamplerConfig'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
