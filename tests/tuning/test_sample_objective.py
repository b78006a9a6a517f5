"""`tuning.objective`: a trial can tell its study the sample quality (the physics
verification's classifier AUC) instead of, or beside, the validation loss."""

from __future__ import annotations

import json

import optuna
import pytest
from omegaconf import OmegaConf

from diffexp.names import TRIAL_FILE
from diffexp.train import objective_of
from diffexp.training.session import TrainingSession
from diffexp.tuning.storage import create_storage
from diffexp.tuning.trial.job import TrialJob


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke run with its .hydra/config.yaml, as a trial's folder holds it."""
    from tests.conftest import compose_config

    root = tmp_path_factory.mktemp("objective")
    cfg = compose_config(root, ["tuning.objective=both", "tuning.sample_auc_events=60"])
    run_dir = root / "run"
    result = TrainingSession(cfg, run_dir).run()
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    return cfg, run_dir, result


def test_both_returns_the_loss_and_an_auc(trained):
    cfg, run_dir, result = trained
    loss, auc = objective_of(cfg, run_dir)(result)
    assert loss == result.best_val_loss
    # a 10-step smoke model is told apart from the simulation: far from 0.5, at most 1
    assert 0.75 < auc <= 1.0


def test_val_loss_objective_is_the_best_loss_without_generating(trained):
    cfg, run_dir, result = trained
    cfg = OmegaConf.merge(cfg, {"tuning": {"objective": "val_loss"}})
    assert objective_of(cfg, run_dir)(result) == result.best_val_loss


def test_a_two_objective_study_gets_both_values(trained, tmp_path):
    cfg, run_dir, result = trained
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(
        study_name="two", storage=create_storage(url), directions=["minimize", "minimize"]
    )
    trial = study.ask()
    job = TrialJob(tmp_path / "trial", "two", url, trial.number)

    def train(reporter):
        reporter.report(1, result.best_val_loss)
        return result

    values = job.run(train, objective_of(cfg, run_dir))
    finished = optuna.load_study(study_name="two", storage=url).trials[0]
    assert finished.state == optuna.trial.TrialState.COMPLETE
    assert finished.values == pytest.approx(values)
    assert finished.values[0] == result.best_val_loss
    record = json.loads((tmp_path / "trial" / TRIAL_FILE).read_text())
    assert record["results"]["objective"] == pytest.approx(values)


def test_unknown_objective_is_refused_before_training(make_config):
    from diffexp.config_checks import validate_config
    from diffexp.errors import ConfigError

    with pytest.raises(ConfigError, match="tuning.objective='auc'"):
        validate_config(make_config(["tuning.objective=auc"]))
