"""The sweeper's parts without launching anything: slots, threads, storages, pruners, config."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from diffexp.tuning.pruners import build_pruner
from diffexp.tuning.storage import create_storage, is_lock_error, retry_on_lock, storage_kind
from diffexp.tuning.sweeper import resources
from diffexp.tuning.sweeper.async_sweeper import _absolute_storage_url
from tests.tuning.sweep_helpers import sweeper_impl

CONF = Path(__file__).resolve().parents[2] / "conf"


class BasicLauncher:  # stands in for hydra's, matched by class name
    pass


class SlurmLauncher:
    pass


def test_slots_capped_to_cores_on_local_launchers():
    assert resources.slots_for(4, "local", cap_to_cores=True, cores=2) == 2
    assert resources.slots_for(4, "local", cap_to_cores=False, cores=2) == 4
    assert resources.slots_for(8, "cluster", cap_to_cores=True, cores=2) == 8
    assert resources.slots_for(4, "inprocess", cap_to_cores=True, cores=2) == 1


def test_launcher_kinds():
    assert resources.launcher_kind(BasicLauncher()) == "inprocess"
    assert resources.launcher_kind(SlurmLauncher()) == "cluster"
    assert resources.launcher_kind(object()) == "local"


def test_trial_threads_are_the_cores_share(monkeypatch):
    monkeypatch.setenv(resources.THREADS_ENV, "")  # restored after the test
    assert resources.set_trial_threads(3, "local", cores=8) == 2
    assert resources.os.environ[resources.THREADS_ENV] == "2"
    assert resources.set_trial_threads(4, "local", cores=2) == 1
    monkeypatch.delenv(resources.THREADS_ENV)
    assert resources.set_trial_threads(4, "cluster", cores=2) is None
    assert resources.THREADS_ENV not in resources.os.environ


def test_storage_kinds_and_journal_file(tmp_path):
    assert storage_kind("sqlite:///a.db") == "sqlite"
    assert storage_kind("postgresql://u@h/db") == "rdb"
    journal = tmp_path / "sub" / "study.log"
    assert storage_kind(str(journal)) == "journal"
    study = optuna.create_study(study_name="j", storage=create_storage(str(journal)))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    reopened = optuna.load_study(study_name="j", storage=create_storage(str(journal)))
    assert len(reopened.trials) == 2 and journal.is_file()


def test_sqlite_storage_uses_wal(tmp_path):
    path = tmp_path / "s.db"
    optuna.create_study(study_name="w", storage=create_storage(f"sqlite:///{path}"))
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_retry_on_lock_retries_only_lock_errors():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "ok"

    assert retry_on_lock(flaky) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):
        retry_on_lock(lambda: (_ for _ in ()).throw(ValueError("other")))
    assert is_lock_error(RuntimeError("wrapped")) is False


def test_relative_storage_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _absolute_storage_url("sqlite:///out/s.db") == f"sqlite:///{tmp_path}/out/s.db"
    assert _absolute_storage_url("j.log") == str(tmp_path / "j.log")
    assert _absolute_storage_url("postgresql://h/db") == "postgresql://h/db"


@pytest.mark.parametrize(
    ("option", "cls"),
    [
        ("none", optuna.pruners.NopPruner),
        ("median", optuna.pruners.MedianPruner),
        ("percentile", optuna.pruners.PercentilePruner),
        ("successive_halving", optuna.pruners.SuccessiveHalvingPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
    ],
)
def test_every_pruner_option_builds(option, cls):
    config = OmegaConf.to_container(
        OmegaConf.load(CONF / "hydra/sweeper/pruner" / f"{option}.yaml")
    )
    assert isinstance(build_pruner(config), cls)


def test_pruner_refuses_other_targets():
    with pytest.raises(ValueError, match="hydra.sweeper.pruner._target_"):
        build_pruner({"_target_": "os.system", "command": "echo hi"})


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF)):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize("search", ["phase1", "phase1b"])
def test_search_configs_compose_into_diffexp_sweeper(search):
    cfg = _compose("hydra/sweeper=optuna", f"search={search}")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.diffexp_sweeper.sweeper.DiffexpOptunaSweeper"
    assert sweeper.study_name == f"{search}-default"
    assert sweeper.pruner._target_ == "optuna.pruners.MedianPruner"
    assert (sweeper.pruner.n_startup_trials, sweeper.pruner.n_warmup_steps) == (5, 3)
    assert sweeper.sampler.seed == cfg.seed
    assert sweeper.n_trials == cfg.profile.n_trials and sweeper.n_jobs == cfg.profile.n_jobs
    if search == "phase1":
        assert set(sweeper.params) == {"optimizer.lr", "model.hidden_dim", "model.t_emb_dim"}
    else:
        assert sweeper.fix_best_of == "phase1-default"
        assert "schedule" in sweeper.params and "model.n_layers" in sweeper.params


def test_each_budget_has_its_own_studies():
    """A smoke, a default and a cluster sweep never share a study (n_trials, the pruner's
    medians, best_of=), and phase 1b fixes the best of phase 1 at its own budget."""
    names = set()
    for profile in ("smoke", "default", "cluster"):
        phase1 = _compose("hydra/sweeper=optuna", "search=phase1", f"profile={profile}")
        phase1b = _compose("hydra/sweeper=optuna", "search=phase1b", f"profile={profile}")
        assert profile in phase1.hydra.sweeper.study_name
        assert phase1b.hydra.sweeper.fix_best_of == phase1.hydra.sweeper.study_name
        names |= {phase1.hydra.sweeper.study_name, phase1b.hydra.sweeper.study_name}
    assert len(names) == 6


def test_phase1_search_space_parses(tmp_path):
    cfg = _compose("hydra/sweeper=optuna", "search=phase1")
    impl = sweeper_impl(
        sampler=optuna.samplers.TPESampler(seed=1),
        storage=f"sqlite:///{tmp_path}/s.db",
        params=cfg.hydra.sweeper.params,
    )
    distributions, fixed, _ = impl._search_space([])
    lr = distributions["optimizer.lr"]
    assert isinstance(lr, optuna.distributions.FloatDistribution) and lr.log
    assert lr.low == 1e-5 and lr.high == 1e-2
    assert distributions["model.hidden_dim"].choices == (32, 64, 96)
    assert fixed == {}


def test_empty_search_space_runs_the_fixed_config(caplog):
    """Issue 13 item 5: as the official sweeper, no params means every trial runs as given."""
    impl = sweeper_impl()
    with caplog.at_level("INFO"):
        distributions, fixed, _ = impl._search_space(["a=1"])
    assert distributions == {} and fixed == {"a": "1"}
    assert "empty search space" in caplog.text


def _phase1_study(url: str) -> None:
    study = optuna.create_study(study_name="phase1", storage=url)
    for value in (0.5, 0.2):
        trial = study.ask()
        trial.suggest_float("optimizer.lr", 1e-5, 1e-2, log=True)
        trial.suggest_categorical("model.hidden_dim", [64, 128])
        study.tell(trial, value)
    best = study.best_trial
    assert best.value == 0.2


def test_phase1b_fixes_phase1_best_and_lets_the_command_line_win(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    _phase1_study(url)
    best = optuna.load_study(study_name="phase1", storage=url).best_trial.params
    cfg = _compose("hydra/sweeper=optuna", "search=phase1b")
    impl = sweeper_impl(
        fix_best_of="phase1",
        sampler=optuna.samplers.TPESampler(seed=1),
        storage=url,
        study_name="phase1b",
        params=cfg.hydra.sweeper.params,
    )
    distributions, fixed, _ = impl._search_space(["model.hidden_dim=512"])
    assert set(distributions) == {
        "model.n_layers",
        "profile.batch_size",
        "optimizer.gradient_clip",
        "schedule",
    }
    assert float(fixed["optimizer.lr"]) == best["optimizer.lr"]
    assert fixed["model.hidden_dim"] == "512"  # the user's override beats phase 1's best
