"""Impossible values stop before training with one line naming the key, a non-zero exit,
and nothing written (not even a run folder)."""

from __future__ import annotations

import pytest

from tests.conftest import run_module

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
    (  # phase 1's TPE settings under another sampler: the line names the key, not just its kind
        "-m hydra/sweeper=optuna search=phase1 hydra/sweeper/sampler=random",
        "Key 'constant_liar' not in 'RandomSamplerConfig'",
    ),
]


@pytest.mark.parametrize("override,message", CASES, ids=[c[0] for c in CASES])
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
