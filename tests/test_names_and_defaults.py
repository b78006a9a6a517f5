"""Each cross-process name and each default written once (issue 25 item 3): the liveness
defaults agree wherever a user can read them, the study attributes live in `diffexp.names`,
and one helper gives an exception's first line."""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest
from omegaconf import OmegaConf

from diffexp import names
from diffexp.errors import first_line, report_user_error
from diffexp.tuning.liveness_policy import DEFAULT_LIVENESS
from hydra_plugins.diffexp_sweeper.config import DiffexpOptunaSweeperConf
from hydra_plugins.diffexp_sweeper.sweeper import DiffexpOptunaSweeper
from tests.conftest import REPO

LIVENESS_KEYS = {
    "heartbeat_interval": DEFAULT_LIVENESS.interval,
    "grace_period": DEFAULT_LIVENESS.grace,
    "retry_failed_trials": DEFAULT_LIVENESS.retries,
}


def test_liveness_defaults_agree_in_the_app_config_the_plugin_config_and_the_plugin():
    app = OmegaConf.load(REPO / "conf" / "hydra" / "sweeper" / "optuna.yaml")
    plugin_conf = {f.name: f.default for f in fields(DiffexpOptunaSweeperConf)}
    plugin = inspect.signature(DiffexpOptunaSweeper).parameters
    for key, value in LIVENESS_KEYS.items():
        assert app[key] == value, key
        assert plugin_conf[key] == value, key
        assert plugin[key].default == value, key


def test_names_that_cross_processes_are_distinct_and_defined_once():
    values = [v for k, v in vars(names).items() if k.endswith("_ATTR")]
    assert len(values) == len(set(values))
    for name in ("LIVENESS_ATTR", "HEARTBEAT_ATTR", "SEED_ATTR", "SEED_CLAIM_ATTR"):
        assert hasattr(names, name)
    sources = [*(REPO / "diffexp").rglob("*.py"), *(REPO / "hydra_plugins").rglob("*.py")]
    for literal in ('"diffexp_liveness"', '"diffexp:heartbeat"', '"sampler_seed"'):
        holders = [p.name for p in sources if literal in p.read_text()]
        assert holders == ["names.py"], (literal, holders)


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (RuntimeError("out of memory\nTraceback (most recent call last): ..."), "out of memory"),
        (ValueError("\n  \n  the real reason  \nmore"), "the real reason"),
        (KeyError(), "KeyError"),
        ("  plain text\nsecond", "plain text"),
        ("", ""),
    ],
)
def test_first_line_of_an_error(error, line):
    assert first_line(error) == line


def test_a_reported_error_is_its_first_line(capsys):
    assert report_user_error(RuntimeError("\nboom\nat line 3")) == 2
    assert capsys.readouterr().err == "diffexp: error: boom\n"


def test_a_single_run_does_not_go_through_the_trial_job(monkeypatch, tmp_path):
    """A plain `python -m diffexp.train` trains and returns its objective; only a sweep trial
    (tuning.trial_number set) is a TrialJob."""
    from diffexp import train as entry
    from diffexp.training.results import TrainResult
    from diffexp.tuning.trial import job

    def no_trial_job(*args, **kwargs):
        raise AssertionError("a single run went through TrialJob")

    monkeypatch.setattr(job.TrialJob, "run", no_trial_job)
    monkeypatch.setattr(entry, "validate_config", lambda cfg: None)
    monkeypatch.setattr(entry, "check_memory", lambda cfg: None)
    monkeypatch.setattr(entry, "run_directory", lambda: tmp_path)
    monkeypatch.setattr(entry.runtime, "configure_threads", lambda threads: None)
    result = TrainResult(0.5, 1, 0.7, 1.0, 1, "completed", tmp_path)
    monkeypatch.setattr(entry, "train", lambda cfg, run_dir, reporter, best_of: result)
    cfg = OmegaConf.create(
        {
            "trainer": {"lr_find": False},
            "runtime": {"threads": 1},
            "best_of": None,
            "tuning": {"trial_number": None, "objective": "val_loss"},
        }
    )
    assert entry._job(cfg) == 0.5
