"""Samplers invert the forward process for an exact noise predictor; load_run refuses
unusable run folders with one line."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from diffexp.models import NoiseSchedule, sample_ddim, sample_ddpm
from diffexp.models.loading import RunLoadError, load_run
from diffexp.models.samplers import ddim_timesteps
from tests.conftest import CONF_DIR


class OracleDenoiser(keras.Model):
    """The exact noise predictor for data that are a point mass at x0 = conditions[:, :1]."""

    def __init__(self, schedule: NoiseSchedule, n_features: int) -> None:
        super().__init__()
        self.sqrt_ab, self.sqrt_1mab = schedule.coefficient_tables()
        self.n_features = n_features

    def call(self, inputs, training=False):
        x, t, conditions = inputs
        x0 = tf.repeat(conditions[:, :1], self.n_features, axis=1)
        a = tf.gather(self.sqrt_ab, t)[:, None]
        b = tf.gather(self.sqrt_1mab, t)[:, None]
        return (x - a * x0) / b


@pytest.fixture(params=["cosine", "linear"])
def schedule(request):
    cfg = OmegaConf.load(CONF_DIR / "diffusion" / "ddpm.yaml")
    cfg.beta_schedule = request.param
    cfg.n_steps = 200
    return NoiseSchedule.from_config(cfg)


def test_ddim_and_ddpm_recover_the_data_for_an_exact_predictor(schedule):
    targets = np.array([[-2.0], [0.0], [1.5]], np.float32)
    conditions = np.hstack([targets, np.zeros_like(targets)])
    model = OracleDenoiser(schedule, n_features=5)
    ddim = sample_ddim(model, schedule, conditions, 5, steps=20, seed=1)
    ddpm = sample_ddpm(model, schedule, conditions, 5, seed=1)
    np.testing.assert_allclose(ddim, np.repeat(targets, 5, axis=1), atol=1e-3)
    np.testing.assert_allclose(ddpm, np.repeat(targets, 5, axis=1), atol=1e-3)


def test_clipping_bounds_generated_values(schedule):
    conditions = np.array([[50.0, 0.0]], np.float32)  # data far outside the clip range
    model = OracleDenoiser(schedule, n_features=3)
    x = sample_ddim(model, schedule, conditions, 3, steps=10, clip_x0=5.0)
    assert np.all(np.abs(x) <= 5.0 + 1e-4)


def test_ddim_timesteps_descend_from_the_last_step():
    steps = ddim_timesteps(1000, 50)
    assert steps[0] == 999 and steps[-1] == 0 and len(steps) == 50
    assert np.all(np.diff(steps) < 0)
    with pytest.raises(ValueError, match="steps=0"):
        ddim_timesteps(1000, 0)


def test_load_run_refuses_missing_and_mismatched_runs(make_config, tmp_path):
    with pytest.raises(RunLoadError, match="no such run folder"):
        load_run(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunLoadError, match="not a diffexp run folder"):
        load_run(tmp_path / "empty")

    from diffexp.training.session import TrainingSession

    cfg = make_config(["trainer.epochs=1", "model.hidden_dim=32", "model.n_layers=1"])
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    TrainingSession(cfg, run_dir).run()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    loaded = load_run(run_dir)
    assert loaded.model.count_params() > 0 and loaded.transform.n_pmt == 128

    cfg.model.hidden_dim = 64  # the weights were trained with 32
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    with pytest.raises(RunLoadError, match="do not match the model"):
        load_run(run_dir)
