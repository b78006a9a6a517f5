"""A sampler whose optional packages are missing is refused before the first trial."""

from __future__ import annotations

import importlib.util

import pytest
from omegaconf import OmegaConf

from diffexp.errors import ConfigError
from diffexp.tuning import sampler_dependencies
from hydra_plugins.diffexp_sweeper.sweeper import DiffexpOptunaSweeper

GP = OmegaConf.create({"_target_": "optuna.samplers.GPSampler", "seed": 1})
TPE = OmegaConf.create({"_target_": "optuna.samplers.TPESampler", "seed": 1})


def _without(monkeypatch, *absent: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        sampler_dependencies.importlib.util,
        "find_spec",
        lambda name, *a: None if name in absent else real(name, *a),
    )


def test_gp_without_torch_names_the_package_and_the_install_target(monkeypatch):
    _without(monkeypatch, "torch")
    with pytest.raises(ConfigError, match=r"sampler=gp .* needs torch, .*make install-gp"):
        sampler_dependencies.check_sampler_dependencies(GP)
    assert sampler_dependencies.missing_modules("optuna.samplers.GPSampler") == ["torch"]


def test_samplers_with_what_they_need_pass(monkeypatch):
    monkeypatch.setattr(sampler_dependencies.importlib.util, "find_spec", lambda name, *a: object())
    sampler_dependencies.check_sampler_dependencies(GP)  # torch and scipy found
    _without(monkeypatch, "torch", "scipy", "cmaes")
    sampler_dependencies.check_sampler_dependencies(TPE)  # needs nothing optional
    sampler_dependencies.check_sampler_dependencies({})  # no sampler configured
    with pytest.raises(ConfigError, match="needs torch, scipy"):
        sampler_dependencies.check_sampler_dependencies(GP)


def test_the_sweeper_plugin_refuses_it_with_one_line(monkeypatch, capsys):
    """A sweep started by an app of its own has no command-line precheck: the plugin checks."""
    _without(monkeypatch, "torch")
    with pytest.raises(SystemExit) as stop:
        DiffexpOptunaSweeper(
            sampler=GP,
            direction="minimize",
            storage=None,
            study_name="s",
            n_trials=2,
            n_jobs=1,
            max_failure_rate=0.0,
        )
    assert stop.value.code == 2
    assert "diffexp: error: hydra/sweeper/sampler=gp" in capsys.readouterr().err
