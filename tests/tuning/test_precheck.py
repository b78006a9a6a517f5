"""The `-m` precheck: a multirun whose fixed values or search space no trial could use stops
with one `diffexp: error:` line and exit 2, before Hydra makes a sweep folder or the sweeper a
study; a good space passes, and `--cfg`, `--help`, `--info` are left to Hydra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from diffexp.errors import ConfigError
from diffexp.precheck import CommandLine, parse_command_line, precheck_multirun
from tests.conftest import REPO, subprocess_env

SWEEP = ["hydra/sweeper=optuna", "profile=smoke"]


@pytest.mark.parametrize("search", ["phase1", "phase1b"])
def test_shipped_search_spaces_pass(search):
    cfg = precheck_multirun([*SWEEP, f"search={search}", "hydra/launcher=submitit_local"])
    assert cfg.hydra.sweeper.params  # the space was read from the composed hydra config


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["optimizer.lr=interval(0, 1e-2)"], ["optimizer.lr=0.0", "a number > 0"]),
        (["search=phase1", "model.hidden_dim=choice(0, 64)"], ["model.hidden_dim=0", ">= 1"]),
        (["model.t_emb_dim=range(2, 10)"], ["model.t_emb_dim=3", "even"]),
        (["schedule=choice(cosine, nosuch)"], ["schedule=nosuch", "allowed: constant"]),
        (["+hydra.sweeper.params.model.hidden_dim='choice(0,8)'"], ["model.hidden_dim=0"]),
        (["optimizer.lr=choice()"], ["optimizer.lr=choice()", "empty choice"]),
        (["optimizer.lr=-1", "model.n_layers=choice(2,3)"], ["optimizer.lr=-1.0"]),
        (["hydra.sweeper.max_failure_rate=1.5"], ["max_failure_rate=1.5", "[0, 1]"]),
    ],
)
def test_values_no_trial_could_use_are_refused(overrides, words):
    with pytest.raises(ConfigError) as caught:
        precheck_multirun([*SWEEP, *overrides])
    for word in words:
        assert word in str(caught.value)


def test_command_line_fixed_value_replaces_the_searched_one():
    """`search=phase1 model.hidden_dim=0`: the fixed 0 is what every trial gets (refused);
    `model.hidden_dim=32` instead takes the key out of the search, so its choices are moot."""
    with pytest.raises(ConfigError, match="model.hidden_dim=0 is out of range"):
        precheck_multirun([*SWEEP, "search=phase1", "model.hidden_dim=0"])
    precheck_multirun([*SWEEP, "search=phase1", "model.hidden_dim=32"])


def test_only_plain_and_multirun_command_lines_are_prechecked():
    assert parse_command_line(["-m", "a=choice(1,2)"]) == CommandLine(["a=choice(1,2)"], True)
    assert parse_command_line(["--multirun", "a=1"]) == CommandLine(["a=1"], True)
    assert parse_command_line(["-cd", "/x", "a=1"]) == CommandLine(["a=1"], False, "/x")
    for flag in ("--cfg=job", "--help", "--info=all", "-c=job"):
        assert parse_command_line([flag, "a=1"]) is None


def _train(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "diffexp.train", *args],
        cwd=REPO,
        env=subprocess_env() | {"DIFFEXP_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_bound_stops_the_multirun_before_any_folder_or_study(tmp_path):
    process = _train(
        tmp_path, "-m", *SWEEP, "hydra/launcher=submitit_local", "optimizer.lr=interval(0,1e-3)"
    )
    assert process.returncode == 2, process.stderr[-3000:]
    assert "Traceback" not in process.stderr
    assert process.stderr.splitlines() == [
        "diffexp: error: search space optimizer.lr=interval(0,1e-3): "
        "optimizer.lr=0.0 is out of range; allowed: a number > 0"
    ]
    assert not (tmp_path / "outputs").exists()


def test_cfg_help_and_info_still_reach_hydra(tmp_path):
    shown = _train(tmp_path, *SWEEP, "search=phase1", "--cfg", "hydra", "--package", "hydra")
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "model.hidden_dim: choice(32, 64, 96)" in shown.stdout
    helped = _train(tmp_path, "--help")
    assert helped.returncode == 0 and "== Config ==" in helped.stdout
    info = _train(tmp_path, "--info", "searchpath")
    assert info.returncode == 0 and "Config search path" in info.stdout
    assert not (tmp_path / "outputs").exists()
