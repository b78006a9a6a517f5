"""Bad input refused before anything runs: one `diffexp: error:` line, exit 2, no folder
created. Config values/types and unknown group options are tested in tests/training; here:
unwritable outputs, unknown study, unreachable storage, a `_target_` in the job config, bad
resume."""

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


# Hydra's own config from the user's command line or files (callbacks, logging, launcher,
# sweeper, --config-dir) is trusted and works: tests/reliability/test_extension_points.py.
# What must never reach it is a value from the study or a run folder: test_trust_boundaries.py.


@pytest.mark.parametrize("value", ["yes_please", "2"])
def test_bad_resume_value_is_refused(tmp_path, value):
    process = run_train(f"trainer.resume={value}", f"hydra.run.dir={tmp_path}/r")
    assert_one_line_error(process, "trainer.resume", "true, false, auto")
