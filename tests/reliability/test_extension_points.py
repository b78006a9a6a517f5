"""The user's own extension points work and are still checked (docs/security.md: the person's
command line, config files and installed packages are trusted): `--config-dir`,
`hydra.searchpath` with `file://` and `pkg://` add their config groups to diffexp's, their own
`hydra.callbacks` run, `hydra.launcher.setup` passes; a bad value in their file is refused
like one on the command line."""

from __future__ import annotations

import json
import subprocess

import pytest
from omegaconf import OmegaConf

from diffexp.errors import ConfigError
from diffexp.precheck import check_command_line, parse_command_line
from tests.conftest import REPO, subprocess_env
from tests.reliability.support import assert_one_line_error, run_train, train_command

CALLBACK = '''
import json
from pathlib import Path

from hydra.experimental.callback import Callback


class WriteMarker(Callback):
    """A user's own callback: records the run's model when the run ends."""

    def __init__(self, path):
        self.path = Path(path)

    def on_run_end(self, config, **kwargs):
        self.path.write_text(json.dumps({"model": config.model.name}))
'''


def _user_conf(folder, hidden_dim: int = 8):
    """A user's config folder: their own model option and a callbacks option."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "tiny.yaml").write_text(
        f"defaults:\n  - mlp\n  - _self_\nname: mlp\nhidden_dim: {hidden_dim}\nn_layers: 1\n"
    )
    return folder


def test_config_dir_adds_the_users_model_and_runs_their_callback(tmp_path):
    """A real run with `--config-dir`: the user's model option is what trains, their callback
    (from their own installed module, named in their own config file) writes its marker."""
    conf = _user_conf(tmp_path / "conf")
    (conf / "callbacks").mkdir()
    marker = tmp_path / "marker.json"
    (conf / "callbacks" / "marker.yaml").write_text(
        "# @package hydra.callbacks\n"
        f"marker:\n  _target_: user_callbacks.WriteMarker\n  path: {marker}\n"
    )
    (tmp_path / "user_callbacks.py").write_text(CALLBACK)
    run_dir = tmp_path / "run"
    env = subprocess_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    process = subprocess.run(
        train_command(
            f"--config-dir={conf}",
            "model=tiny",
            "+callbacks=marker",
            "trainer.epochs=1",
            f"hydra.run.dir={run_dir}",
        ),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert (saved.model.hidden_dim, saved.model.n_layers) == (8, 1)
    assert json.loads(marker.read_text()) == {"model": "mlp"}


def test_a_bad_value_in_the_users_own_file_is_refused(tmp_path):
    conf = _user_conf(tmp_path / "conf", hidden_dim=0)
    process = run_train(f"--config-dir={conf}", "model=tiny", f"hydra.run.dir={tmp_path}/r")
    assert_one_line_error(process, "model.hidden_dim=0", "out of range")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("scheme", ["file", "pkg"])
def test_searchpath_adds_the_users_groups_and_they_are_checked(tmp_path, monkeypatch, scheme):
    package = tmp_path / "user_confs"
    _user_conf(package)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = f"file://{package}" if scheme == "file" else "pkg://user_confs"
    base = [f"hydra.searchpath=[{entry}]", "profile=smoke", f"hydra.run.dir={tmp_path}/r"]
    cfg = check_command_line(parse_command_line([*base, "model=tiny"]), "config")
    assert cfg.model.hidden_dim == 8
    with pytest.raises(ConfigError, match="model.hidden_dim=0 is out of range"):
        check_command_line(
            parse_command_line([*base, "model=tiny", "model.hidden_dim=0"]), "config"
        )
    (package / "model" / "broken.yaml").write_text(
        "defaults:\n  - mlp\n  - _self_\nhidden_dim: 0\n"
    )
    check_command_line(parse_command_line(["-m", *base, "model=tiny,mlp"]), "config")
    with pytest.raises(ConfigError, match="at model=broken: model.hidden_dim=0 is out of range"):
        check_command_line(parse_command_line(["-m", *base, "model=tiny,broken"]), "config")


def test_launcher_setup_lines_pass(tmp_path):
    """`hydra.launcher.setup: [module load cuda]` is how clusters load their software."""
    argv = [
        "-m",
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.setup=[module load cuda]",
        f"hydra.sweep.dir={tmp_path}/s",
        "seed=1,2",
    ]
    cfg = check_command_line(parse_command_line(argv), "config")
    assert list(cfg.hydra.launcher.setup) == ["module load cuda"]


def test_user_callback_reaches_hydras_whitelist(tmp_path):
    from diffexp.security import EXECUTION_WHITELIST, trusted_targets

    argv = ["+hydra.callbacks.x._target_=user_callbacks.WriteMarker", f"hydra.run.dir={tmp_path}"]
    cfg = check_command_line(parse_command_line(argv), "config")
    assert "user_callbacks.WriteMarker" in trusted_targets(cfg)
    assert "user_callbacks.WriteMarker" not in EXECUTION_WHITELIST


SWEEP_CALLBACK = '''
from pathlib import Path

from hydra.experimental.callback import Callback


class MarkJobs(Callback):
    """A user's own callback in a sweep: one file per finished trial job, one at the end."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def on_job_end(self, config, job_return, **kwargs):
        self.folder.mkdir(exist_ok=True)
        (self.folder / f"job_{config.tuning.trial_number}").write_text(config.model.name)

    def on_multirun_end(self, config, **kwargs):
        (self.folder / "multirun_end").write_text("done")
'''


@pytest.mark.slow
def test_the_users_callback_runs_in_every_trial_job_of_a_sweep(tmp_path):
    """Trial jobs run in the pool launcher's workers: the whitelist the checked config gave
    Hydra reaches them, so the user's callback runs there too."""
    conf = _user_conf(tmp_path / "conf")
    (conf / "callbacks").mkdir()
    marks = tmp_path / "marks"
    (conf / "callbacks" / "marks.yaml").write_text(
        f"# @package hydra.callbacks\nmarks:\n  _target_: user_sweep_callbacks.MarkJobs\n"
        f"  folder: {marks}\n"
    )
    (tmp_path / "user_sweep_callbacks.py").write_text(SWEEP_CALLBACK)
    env = subprocess_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    command = train_command(
        "-m",
        f"--config-dir={conf}",
        "+callbacks=marks",
        "model=tiny",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={tmp_path}/sweep",
        f"paths.study_storage=sqlite:///{tmp_path}/study.db",
    )
    process = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert sorted(p.name for p in marks.iterdir()) == ["job_0", "job_1", "multirun_end"]
    assert (marks / "job_1").read_text() == "mlp"
