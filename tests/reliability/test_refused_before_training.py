"""Bad input refused before anything runs: one `diffexp: error:` line, exit 2, no folder
created. Config values/types and unknown group options are tested in tests/training; here:
unwritable outputs, unknown study, unreachable storage, arbitrary `_target_`, bad resume."""

from __future__ import annotations

import pytest

from tests.reliability.support import assert_one_line_error, run_train


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "outputs"
    path.write_text("a regular file where a folder is expected\n")
    return path


def test_run_folder_under_a_regular_file_is_refused_before_hydra_writes(a_file):
    process = run_train(f"hydra.run.dir={a_file / 'run'}")
    assert_one_line_error(process, "hydra.run.dir=", "is a file, not a folder")
    assert process.returncode == 2
    assert a_file.read_text().startswith("a regular file")  # untouched


def test_output_dir_under_a_regular_file_is_refused(a_file, tmp_path):
    process = run_train(f"paths.output_dir={a_file / 'out'}", f"hydra.run.dir={tmp_path / 'r'}")
    assert_one_line_error(process, "paths.output_dir=", "is a file, not a folder")
    assert not (tmp_path / "r").exists()


def test_read_only_output_dir_is_refused(tmp_path):
    """Permission bits do not stop root; a read-only mount does. /proc/sys is one."""
    process = run_train("hydra.run.dir=/proc/sys/diffexp_run")
    assert_one_line_error(process, "hydra.run.dir=/proc/sys/diffexp_run", "not writable")


def test_unknown_study_names_the_existing_ones(tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="phase1", storage=storage)
    process = run_train(
        "best_of=nosuch", f"paths.study_storage={storage}", f"hydra.run.dir={tmp_path / 'r'}"
    )
    assert_one_line_error(process, "unknown study 'nosuch'", "phase1")
    assert process.returncode == 2
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "storage, words",
    [
        ("sqlite:///{tmp}/missing/study.db", ("no such file",)),
        ("mysql://nobody@127.0.0.1:1/nodb", ("unreachable",)),
    ],
)
def test_unreachable_storage_is_one_line(tmp_path, storage, words):
    url = storage.format(tmp=tmp_path)
    process = run_train("best_of=phase1", f"paths.study_storage={url}")
    assert_one_line_error(process, url, *words)
    assert not (tmp_path / "missing").exists()  # nothing created while looking


@pytest.mark.parametrize(
    "override",
    [
        "+model._target_=os.system",
        "+_target_=os.system",
        "+optimizer._target_=builtins.eval",
        "+data.physics._target_=subprocess.call",
    ],
)
def test_target_override_is_refused(tmp_path, override):
    marker = tmp_path / "marker"
    process = run_train(override, f"+model._args_=[touch {marker}]", f"hydra.run.dir={tmp_path}/r")
    assert_one_line_error(process, "_target_", "refused")
    assert not marker.exists()
    assert not (tmp_path / "r").exists()


SWEEP = ("-m", "hydra/sweeper=optuna", "search=phase1")


def _copy(key: str, source, marker) -> list[str]:
    """Overrides that make `key` a call of shutil.copyfile(source, marker)."""
    return [f"{key}._target_=shutil.copyfile", f"+{key}.src={source}", f"+{key}.dst={marker}"]


def _logging_option(group: str, factory: str, source, marker) -> list[str]:
    """A `hydra/<group>` option from a search path a user added, whose handler calls
    shutil.copyfile(source, marker) when Python's logging is configured."""
    folder = marker.parent / "conf" / "hydra" / group
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "copy.yaml").write_text(
        f"version: 1\nhandlers:\n  x:\n    {factory}\n    src: {source}\n"
        f"    dst: {marker}\nroot:\n  handlers: [x]\n"
    )
    return [f"hydra.searchpath=[file://{marker.parent / 'conf'}]", f"hydra/{group}=copy"]


HYDRA_CODE_PATHS = {
    "callback": lambda s, m: [
        "+hydra.callbacks.x._target_=shutil.copyfile",
        f"+hydra.callbacks.x.src={s}",
        f"+hydra.callbacks.x.dst={m}",
    ],
    "nested callback": lambda s, m: [
        "+hydra.callbacks.x._target_=pathlib.Path.write_text",
        "+hydra.callbacks.x.self._target_=pathlib.Path",
        f"+hydra.callbacks.x.self._args_=[{m}]",
        "+hydra.callbacks.x.data=written",
    ],
    "logging factory": lambda s, m: _logging_option("job_logging", "'()': shutil.copyfile", s, m),
    "hydra logging factory": lambda s, m: _logging_option(
        "hydra_logging", "'()': shutil.copyfile", s, m
    ),
    "logging handler class": lambda s, m: _logging_option(
        "job_logging", "class: shutil.copyfile", s, m
    ),
    "sampler": lambda s, m: [*SWEEP, *_copy("hydra.sweeper.sampler", s, m)],
    "pruner": lambda s, m: [*SWEEP, *_copy("hydra.sweeper.pruner", s, m)],
    "launcher": lambda s, m: [*SWEEP, *_copy("hydra.launcher", s, m)],
    "sweeper": lambda s, m: [
        "-m",
        "hydra.sweeper._target_=shutil.copyfile",
        f"+hydra.sweeper.src={s}",
        f"+hydra.sweeper.dst={m}",
    ],  # fmt: skip
    "custom_search_space": lambda s, m: [
        *SWEEP,
        "hydra.sweeper.custom_search_space=shutil.copyfile",
    ],
}


@pytest.mark.parametrize("path", list(HYDRA_CODE_PATHS))
def test_hydra_config_that_would_run_code_is_refused(tmp_path, path):
    """Every path of Hydra's own config that instantiates or imports: one line naming the key,
    exit 2, and the marker the code would have written does not exist."""
    source, marker = tmp_path / "source", tmp_path / "marker"
    source.write_text("copied\n")
    overrides = HYDRA_CODE_PATHS[path](source, marker)
    process = run_train(*overrides, f"hydra.run.dir={tmp_path}/r", f"hydra.sweep.dir={tmp_path}/s")
    assert_one_line_error(process, "hydra.", "refused")
    assert process.returncode == 2
    assert not marker.exists()
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_another_config_dir_is_refused(tmp_path):
    """--config-dir would run a config the checks never composed."""
    marker = tmp_path / "marker"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(
        f"hydra:\n  callbacks:\n    x:\n      _target_: pathlib.Path.touch\n      self: {marker}\n"
    )
    process = run_train("--config-dir", str(tmp_path / "conf"), f"hydra.run.dir={tmp_path}/r")
    assert_one_line_error(process, "--config-dir", "refused")
    assert not marker.exists()


@pytest.mark.parametrize(
    "module, args", [("diffexp.verify", ["run=."]), ("diffexp.select_pmts", [])]
)
def test_other_entrypoints_refuse_hydra_callbacks(tmp_path, module, args):
    from tests.conftest import run_module

    source, marker = tmp_path / "source", tmp_path / "marker"
    source.write_text("copied\n")
    process = run_module(
        module,
        *args,
        *HYDRA_CODE_PATHS["callback"](source, marker),
        f"hydra.run.dir={tmp_path}/r",
    )
    assert_one_line_error(process, "hydra.callbacks", "refused")
    assert not marker.exists()


@pytest.mark.parametrize("value", ["yes_please", "2"])
def test_bad_resume_value_is_refused(tmp_path, value):
    process = run_train(f"trainer.resume={value}", f"hydra.run.dir={tmp_path}/r")
    assert_one_line_error(process, "trainer.resume", "true, false, auto")
