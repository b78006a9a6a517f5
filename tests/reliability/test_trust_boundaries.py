"""What others can write is data (docs/security.md). Each test writes the attack of issue 22's
table: a poisoned study read by `best_of=`, a sweep whose configs are not all checked, a search
file sweeping Hydra's own config, names and files that would land outside their folder, a run
folder's saved config that reads the environment. Each is refused with one line, before
anything is written."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from diffexp.errors import ConfigError
from diffexp.tuning.analysis.best_trial import StudyError, best_trial_overrides
from tests.conftest import run_module
from tests.reliability.support import assert_one_line_error, run_train

# ---- the study is data -------------------------------------------------------------------


def _study(url: str, params: dict, distributions: dict, name: str = "phase1") -> None:
    study = optuna.create_study(study_name=name, storage=url)
    study.add_trial(
        optuna.create_trial(
            state=TrialState.COMPLETE, value=0.1, params=params, distributions=distributions
        )
    )


def _poisoned_study(tmp_path) -> tuple[str, object]:
    """A study as a hostile colleague with write access to the storage leaves it: a logging
    handler's file aimed at a `.pth` in site-packages, a format that is Python code."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    site = tmp_path / "site-packages"
    site.mkdir()
    pth = site / "zz_evil.pth"
    code = f"import os;os.system('touch {tmp_path / 'owned'}') #%(message)s"  # a .pth line runs
    params = {
        "optimizer.lr": 1e-3,
        "hydra.job_logging.handlers.file.filename": str(pth),
        "hydra.job_logging.formatters.simple.format": code,
    }
    _study(
        url,
        params,
        {
            "optimizer.lr": FloatDistribution(1e-5, 1e-2, log=True),
            "hydra.job_logging.handlers.file.filename": CategoricalDistribution([str(pth)]),
            "hydra.job_logging.formatters.simple.format": CategoricalDistribution([code]),
        },
    )
    return url, pth


def test_a_poisoned_study_runs_nothing_on_phase_2(tmp_path):
    url, pth = _poisoned_study(tmp_path)
    process = run_train(
        "best_of=phase1", f"paths.study_storage={url}", f"hydra.run.dir={tmp_path / 'r'}"
    )
    line = assert_one_line_error(process, "study phase1 trial 0", "hydra.job_logging", "refused")
    assert process.returncode == 2
    assert not pth.exists() and not (tmp_path / "owned").exists()
    assert not (tmp_path / "r").exists()
    assert "nothing was run" in line


@pytest.mark.parametrize(
    ("key", "value", "distribution", "words"),
    [
        ("paths.study_storage", "x", CategoricalDistribution(["x"]), ["paths.*"]),
        ("hydra/job_logging", "evil", CategoricalDistribution(["evil"]), ["hydra.*"]),
        ("tuning.storage", "y", CategoricalDistribution(["y"]), ["tuning.*"]),
        ("experiment_name", "z", CategoricalDistribution(["z"]), ["experiment_name.*"]),
        ("+model.extra", 1, IntDistribution(0, 2), ["not a plain config key"]),
        ("data.seed", "${oc.env:HOME}", CategoricalDistribution(["${oc.env:HOME}"]), ["${...}"]),
        ("schedule", "choice(a,b)", CategoricalDistribution(["choice(a,b)"]), ["grammar"]),
        ("data.path", "../../etc/x", CategoricalDistribution(["../../etc/x"]), ["no paths"]),
        ("model.hidden_dim", 512, IntDistribution(1, 64), ["not an integer in [1, 64]"]),
        ("optimizer.lr", 5.0, FloatDistribution(1e-5, 1e-2), ["not a number in"]),
    ],
)
def test_only_the_studys_own_search_values_come_along(tmp_path, key, value, distribution, words):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    outside = isinstance(value, int | float) and not distribution._contains(value)
    if outside:  # Optuna refuses it: written into the storage behind Optuna's back
        _study(url, {key: distribution.low}, {key: distribution})
        _rewrite_param(tmp_path / "study.db", value)
    else:
        _study(url, {key: value}, {key: distribution})
    with pytest.raises(StudyError) as caught:
        best_trial_overrides("phase1", url)
    for word in ("study phase1 trial 0", key, "refused", *words):
        assert word in str(caught.value)
    assert "\n" not in str(caught.value)


def _rewrite_param(db, value: float) -> None:
    import sqlite3

    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE trial_params SET param_value = ?", (value,))


def test_a_staged_studys_fixed_values_follow_the_same_rule(tmp_path):
    from diffexp.names import FIXED_FROM_ATTR

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="phase1b", storage=url)
    fixed = {"hydra.job.env_set.LD_PRELOAD": f"{tmp_path}/evil.so"}
    study.set_user_attr(FIXED_FROM_ATTR, {"study_name": "p", "trial_number": 0, "overrides": fixed})
    study.add_trial(
        optuna.create_trial(
            state=TrialState.COMPLETE,
            value=0.1,
            params={"model.n_layers": 2},
            distributions={"model.n_layers": IntDistribution(1, 3)},
            user_attrs=fixed,
        )
    )
    with pytest.raises(StudyError, match="LD_PRELOAD.*refused.*hydra"):
        best_trial_overrides("phase1b", url)


# ---- every config Hydra runs is checked ----------------------------------------------------


def _not_runs(tmp_path):
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
    return folders


def test_verify_multirun_checks_every_run_before_writing(tmp_path):
    """`verify -m run=A,B` skipped the check (a compose error was swallowed): now every
    `run=` value must be a training run folder, and nothing is written, not even Hydra's log."""
    a, b = _not_runs(tmp_path)
    process = run_module("diffexp.verify", "-m", f"run={a},{b}", cwd=tmp_path)
    assert_one_line_error(process, "is not a training run folder", "run=")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no multirun/ folder
    assert not any(a.iterdir()) and not any(b.iterdir())


def test_select_pmts_multirun_refuses_a_config_it_cannot_compose(tmp_path):
    process = run_module(
        "diffexp.select_pmts", "-m", "seed=1,2", "nosuch_key=3", f"output_dir={tmp_path}/o"
    )
    assert_one_line_error(process, "nosuch_key")
    assert not (tmp_path / "o").exists()


def test_a_search_files_group_override_on_hydra_is_refused(tmp_path):
    """A search file that sweeps `hydra/job_logging` was composed without Hydra's node, so its
    logging handler (here truncating `victim`) was never checked."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    conf = tmp_path / "conf"
    (conf / "hydra" / "job_logging").mkdir(parents=True)
    (conf / "hydra" / "job_logging" / "truncate.yaml").write_text(
        "version: 1\nhandlers:\n  file:\n    class: logging.FileHandler\n"
        f"    filename: {victim}\n    mode: w\nroot:\n  handlers: [file]\n"
    )
    (conf / "search").mkdir()
    (conf / "search" / "mine.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n"
        "      hydra/job_logging: choice(default, truncate)\n"
    )
    process = run_train(
        "-m",
        "hydra/sweeper=optuna",
        f"hydra.searchpath=[file://{conf}]",
        "search=mine",
        f"hydra.sweep.dir={tmp_path}/s",
        "hydra.sweeper.n_trials=2",
    )
    assert_one_line_error(process, "hydra/job_logging", "hydra.sweeper.params", "cannot be swept")
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "s").exists()


# ---- paths stay where they belong ----------------------------------------------------------


@pytest.mark.parametrize("mode", [[], ["-m", "seed=1,2"]])
def test_experiment_name_cannot_climb_out_of_outputs(tmp_path, mode):
    escape = tmp_path / "escaped"
    depth = "/".join([".."] * 12)
    process = run_train(
        *mode, f"experiment_name=x/{depth}{escape}", f"paths.output_dir={tmp_path}/outputs"
    )
    assert_one_line_error(process, "experiment_name=", "folder name")
    assert not escape.exists() and not (tmp_path / "outputs").exists()


def test_verify_writes_nothing_into_a_folder_that_is_not_a_run(tmp_path):
    some_dir = tmp_path / "some_dir"
    some_dir.mkdir()
    process = run_module("diffexp.verify", f"run={some_dir}")
    assert_one_line_error(process, str(some_dir), "not a training run folder")
    assert list(some_dir.iterdir()) == []  # no verify.log


def test_verify_output_file_stays_inside_the_run(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("seed: 1\n")
    target = tmp_path / "elsewhere.json"
    for output in (str(target), "../elsewhere.json"):
        process = run_module("diffexp.verify", f"run={run}", f"output_file={output}")
        assert_one_line_error(process, "output_file=", "relative")
    assert not target.exists()
    assert sorted(p.name for p in run.iterdir()) == [".hydra"]  # no verify.log


def test_a_saved_config_that_reads_the_environment_is_not_loaded(tmp_path):
    from diffexp.models.loading import RunLoadError, load_run

    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("data:\n  seed: ${oc.env:AWS_SECRET_ACCESS_KEY}\n")
    (run / "best_model.weights.h5").write_text("")
    (run / "data_transform.json").write_text("{}")
    with pytest.raises(RunLoadError, match=r"data.seed=.*oc.env.*only \$\{other.key\}"):
        load_run(run)


# ---- a long choice is checked in linear time -----------------------------------------------


def test_a_thousand_value_choice_is_checked_without_a_composition_each(monkeypatch):
    """Issue 22: `choice(...)` of 1,000 values took > 100 s (a composition per value). Now the
    values are set into the one composed config: the count of compositions is what stays
    fixed, whatever the number of values (no wall-clock assertion)."""
    import diffexp.config
    from diffexp.precheck import precheck_multirun

    calls = []
    compose = diffexp.config.compose
    monkeypatch.setattr(
        diffexp.config, "compose", lambda *a, **k: calls.append(1) or compose(*a, **k)
    )
    values = ",".join(str(v) for v in range(1, 1001))
    precheck_multirun(
        ["hydra/sweeper=optuna", "profile=smoke", f"model.hidden_dim=choice({values})"]
    )
    assert len(calls) == 1
    with pytest.raises(ConfigError, match="at model.hidden_dim=0: |model.hidden_dim=0 is out"):
        precheck_multirun(["hydra/sweeper=optuna", f"model.hidden_dim=choice({values},0)"])
    assert len(calls) == 2


def test_a_verify_sweep_keeps_hydras_logs_under_outputs(tmp_path):
    """`verify -m run=A,B` used Hydra's default sweep folder, `multirun/` in the working
    directory; its logs now go under outputs/ (verification.json into each run)."""
    from diffexp.config_checks import check_verify_request
    from diffexp.precheck import check_command_line, parse_command_line

    runs = []
    for name in ("a", "b"):
        (tmp_path / name / ".hydra").mkdir(parents=True)
        (tmp_path / name / ".hydra" / "config.yaml").write_text("seed: 1\n")
        runs.append(str(tmp_path / name))
    argv = ["-m", f"run={','.join(runs)}", f"paths.output_dir={tmp_path}/outputs"]
    cfg = check_command_line(parse_command_line(argv), "verify", check_verify_request)
    assert str(cfg.hydra.sweep.dir).startswith(f"{tmp_path}/outputs/verify_sweeps/")
