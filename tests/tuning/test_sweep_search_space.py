"""A sweep's search space and its user errors, without launching anything: each bad
parameter is refused with one line naming it, an unreachable storage names its URL, and the
sweeper's plugin turns these into `diffexp: error:` and exit 2 while a bug keeps its traceback.
"""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from diffexp.errors import ConfigError, exit_on_user_error, user_error_line
from diffexp.tuning.storage import StorageError, create_storage, shown_url
from diffexp.tuning.sweeper.async_sweeper import (
    AsyncOptunaSweeperImpl,
    SweepStoppedError,
    _SweepState,
)
from diffexp.tuning.sweeper.search_space import (
    distributions_from_overrides,
    edge_values,
    param_lines,
    parse_param,
)
from tests.tuning.sweep_helpers import sweeper_impl


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("optimizer.lr=interval(1e-2,1e-5)", ["low 0.01 > high 1e-05"]),
        ("model.hidden_dim=range(64,8)", ["holds no value"]),
        ("optimizer.lr=choice()", ["empty choice"]),
        ("optimizer.lr=tag(log, interval(0, 1e-2))", ["log interval needs low > 0"]),
        ("model.hidden_dim=interval(64", ["no viable alternative"]),
    ],
)
def test_bad_parameter_is_refused_naming_it(line, words):
    with pytest.raises(ConfigError) as caught:
        distributions_from_overrides(["model.t_emb_dim=choice(16, 32)", line])
    message = str(caught.value)
    assert "\n" not in message
    assert line.split("=")[0] in message
    for word in words:
        assert word in message


def test_good_space_gives_the_official_distributions_and_later_lines_win():
    distributions, fixed, deleted = distributions_from_overrides(
        [
            "optimizer.lr=tag(log, interval(1e-5, 1e-2))",
            "model.hidden_dim=choice(64, 128)",
            "model.n_layers=range(2, 5)",
            "model.hidden_dim=256",  # the command line's fixed value beats the search config
            "~trainer.early_stopping",
        ]
    )
    assert distributions["optimizer.lr"] == FloatDistribution(1e-5, 1e-2, log=True)
    assert distributions["model.n_layers"] == IntDistribution(2, 4)
    assert "model.hidden_dim" not in distributions and fixed == {"model.hidden_dim": "256"}
    assert deleted == ["~trainer.early_stopping"]
    (searched,) = distributions_from_overrides(["model.hidden_dim=choice(64, 128)"])[0].values()
    assert searched == CategoricalDistribution((64, 128))


def test_edge_values_are_the_values_a_trial_can_take_at_the_edges():
    assert edge_values(parse_param("a=tag(log, interval(1e-5, 1e-2))")) == ["1e-05", "0.01"]
    assert edge_values(parse_param("a=choice(64, 128, 64)")) == ["64", "128"]
    assert edge_values(parse_param("a=range(2, 5)")) == ["2", "3", "4"]
    assert edge_values(parse_param("a=range(0, 1000)")) == ["0", "999"]
    assert edge_values(parse_param("schedule=constant,cosine")) == ["constant", "cosine"]
    assert edge_values(parse_param("a=3")) == ["3"]


def test_nested_params_flatten_to_dotted_keys():
    params = OmegaConf.create({"optimizer.lr": "interval(1e-5, 1e-3)", "model": {"n_layers": 3}})
    assert param_lines(params) == ["optimizer.lr=interval(1e-5, 1e-3)", "model.n_layers=3"]
    assert param_lines(None) == []


def test_unreachable_storage_names_its_url(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for url in (f"sqlite:///{blocker}/study.db", str(blocker / "journal.log")):
        with pytest.raises(StorageError) as caught:
            create_storage(url)
        assert url in str(caught.value) and "is a file, not a folder" in str(caught.value)
        assert user_error_line(caught.value) == str(caught.value)
    assert not list(tmp_path.glob("**/*.db"))


def test_database_password_is_not_shown():
    assert shown_url("postgresql://me:secret@db:5432/s") == "postgresql://me:***@db:5432/s"
    assert shown_url("sqlite:///outputs/x.db") == "sqlite:///outputs/x.db"


def _impl(tmp_path) -> AsyncOptunaSweeperImpl:
    impl = sweeper_impl(study_name="s", n_trials=8, max_failure_rate=0.25)
    impl.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    return impl


def test_stopped_sweep_message_names_counts_and_most_common_reason(tmp_path):
    summary = {
        "failed_trials": {
            0: "RuntimeError: out of memory",
            2: "diverged: loss nan at epoch 2",
            3: "RuntimeError: out of memory",
        }
    }
    state = _SweepState(allowed_failures=2.0, launched=[0, 1, 2, 3], failures=3)
    error = SweepStoppedError(_impl(tmp_path)._stopped_message(summary, state, 8))
    line = user_error_line(error)
    assert line is not None and "\n" not in line
    assert "3 of 4 trials failed" in line
    assert "max_failure_rate=0.25" in line
    assert "(2x): RuntimeError: out of memory" in line


def test_sweeper_errors_the_user_can_fix_are_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as caught, exit_on_user_error():
        raise ConfigError("search space a=choice(): empty choice is not legal")
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        "diffexp: error: search space a=choice(): empty choice is not legal\n"
    )
    with pytest.raises(KeyError), exit_on_user_error():  # a bug keeps its traceback
        raise KeyError("bug")
    with exit_on_user_error():
        pass
