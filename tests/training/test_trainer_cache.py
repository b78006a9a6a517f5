"""Compiled trainers kept in a warm worker (diffexp.training.trainer_cache): a trial on a kept
trainer traces nothing and trains exactly as a fresh process; another shape compiles anew."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from diffexp import runtime
from diffexp.training import records, trainer_cache, worker_cache
from diffexp.training import trainer as trainer_module
from diffexp.training.session import TrainingSession
from diffexp.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
# data.seed pinned: the global seed then changes the weights and the noise, not the data
TRIAL_A = ["optimizer=adamw", "optimizer.lr=1e-3", "seed=11", "data.seed=5", "trainer.epochs=3"]
TRIAL_B = [
    "optimizer=adamw",
    "optimizer.lr=3e-3",
    "optimizer.weight_decay=1e-2",
    "schedule=cyclical",
    "seed=12",
    "data.seed=5",
    "trainer.epochs=3",
]
CURVE_FIELDS = ("train_loss", "val_loss", "learning_rate")


@pytest.fixture
def caches():
    """Both worker caches on, as in a pool worker; as found afterwards."""
    was = worker_cache.enabled(), trainer_cache.enabled()
    worker_cache.clear()
    trainer_cache.clear()
    worker_cache.enable()
    trainer_cache.enable()
    yield trainer_cache
    worker_cache.enable(was[0])
    trainer_cache.enable(was[1])
    worker_cache.clear()
    trainer_cache.clear()


def _cfg(tmp_path, overrides):
    from tests.conftest import compose_config

    return compose_config(tmp_path, overrides)


def _between_jobs() -> None:
    from hydra_plugins.diffexp_pool_launcher.job_runner import reset_between_jobs

    reset_between_jobs()


def _curve(run_dir: Path) -> np.ndarray:
    return np.array([[r[f] for f in CURVE_FIELDS] for r in records.read_metrics(run_dir)])


def _fresh_process_curve(tmp_path: Path, overrides: list[str]) -> np.ndarray:
    """Trial `overrides` trained alone in a new Python process, caches off."""
    run_dir = tmp_path / "fresh"
    code = (
        "import sys; from pathlib import Path; from diffexp import runtime; "
        "runtime.configure_threads(None); "
        "from tests.conftest import compose_config; "
        "from diffexp.training.session import TrainingSession; "
        "tmp = Path(sys.argv[1]); "
        "TrainingSession(compose_config(tmp, sys.argv[3:]), Path(sys.argv[2])).run()"
    )
    command = [sys.executable, "-c", code, str(tmp_path), str(run_dir), *overrides]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
    return _curve(run_dir)


def test_a_trial_on_a_kept_trainer_traces_nothing_and_trains_as_a_fresh_process(caches, tmp_path):
    """The correctness guarantee of compiling once per shape: a second trial in the same worker
    with another learning rate, weight decay, schedule and seed but the same shapes triggers
    zero new traces of the train step or the validation loss, and its loss curve (train loss,
    validation loss and learning rate of every epoch) equals the one a fresh process gives for
    that trial, within float tolerance."""
    session_a = TrainingSession(_cfg(tmp_path, TRIAL_A), tmp_path / "a")
    kept = session_a.build_trainer()
    kept.fit()
    traces = kept.tracing_count
    assert traces >= 2  # the step loop and the validation loss were traced once each
    _between_jobs()

    session_b = TrainingSession(_cfg(tmp_path, TRIAL_B), tmp_path / "b")
    trainer_b = session_b.build_trainer()
    assert trainer_b is kept and trainer_cache.kept_count() == 1
    trainer_b.fit()
    assert trainer_b.tracing_count == traces  # zero new traces

    reused = _curve(tmp_path / "b")
    fresh = _fresh_process_curve(tmp_path, TRIAL_B)
    assert reused.shape == fresh.shape == (3, 3)
    np.testing.assert_allclose(reused, fresh, rtol=1e-5, atol=1e-7)
    assert not np.allclose(reused, _curve(tmp_path / "a"), rtol=1e-3)  # the trials differ


def _state(trainer: Trainer) -> list[np.ndarray]:
    """Everything a trial starts from: weights and seeds of the model, optimizer state, the
    learning-rate table, the data RNG and the validation draws."""
    inner = getattr(trainer.optimizer, "inner_optimizer", trainer.optimizer)
    return [
        *(np.asarray(v) for v in trainer.model.variables),
        *(np.asarray(v) for v in trainer.optimizer.variables),
        np.asarray(inner._learning_rate.table),
        np.asarray(inner.weight_decay),
        np.asarray(trainer.rng.state),
        *(np.asarray(t) for t in trainer.validator._stacked),
    ]


@pytest.mark.parametrize(
    "precision",
    [[], ["precision=mixed_float16", "precision.force=true"]],
    ids=["float32", "float16-loss-scaled"],
)
def test_a_kept_trainer_starts_exactly_where_a_fresh_build_starts(
    caches, tmp_path, precision, monkeypatch
):
    """Re-initialised in place: after a trained trial, reuse gives bit for bit the weights,
    optimizer state (a loss-scale optimizer's too), learning rates, RNG and validation draws a
    fresh build gets (same seed as before, so seeding takes the path that keeps TensorFlow's
    seed, and the start weights come from the first trial's build, with no model built)."""
    common = ["optimizer=adamw", "data.seed=5", "seed=11", *precision]
    trial_a = _cfg(tmp_path, common)
    trial_b = _cfg(tmp_path, [*common, "optimizer.lr=5e-3", "schedule=constant"])
    session_a = TrainingSession(trial_a, tmp_path / "a")
    kept = session_a.build_trainer()
    kept.fit()
    _between_jobs()

    trainer_cache.enable(False)  # the fresh build of trial B, seeded and with its precision
    fresh = _state(TrainingSession(trial_b, tmp_path / "fresh").build_trainer())

    trainer_cache.enable()
    session_b = TrainingSession(trial_b, tmp_path / "b")  # seeds as a fresh run does
    builds = []
    monkeypatch.setattr(trainer_module, "build_denoiser", lambda *a: builds.append(a))
    reused = session_b.build_trainer()
    assert reused is kept and not builds
    state = _state(reused)
    assert len(state) == len(fresh)
    for got, expected in zip(state, fresh, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_only_the_shape_key_decides_and_another_shape_compiles_anew(caches, tmp_path):
    base = ["data.seed=5"]
    key = trainer_cache.shape_key(_cfg(tmp_path, base))
    same_graph = [
        ["optimizer.lr=5e-3"],
        ["schedule=cyclical"],
        ["seed=99"],
        ["trainer.epochs=7"],
        ["trainer.steps_per_execution=3"],
    ]
    for overrides in same_graph:
        assert trainer_cache.shape_key(_cfg(tmp_path, base + overrides)) == key, overrides
    other_graph = [
        ["model.hidden_dim=16"],
        ["profile.batch_size=16"],
        ["optimizer=adamw"],
        ["optimizer.gradient_clip=1.0"],
        ["optimizer.accumulation_steps=2"],
        ["data.seed=6"],
        ["trainer.jit_compile=true"],
    ]
    for overrides in other_graph:
        assert trainer_cache.shape_key(_cfg(tmp_path, base + overrides)) != key, overrides

    first = TrainingSession(_cfg(tmp_path, base), tmp_path / "a").build_trainer()
    first.train_steps(1)
    wider = TrainingSession(_cfg(tmp_path, base + ["model.hidden_dim=16"]), tmp_path / "b")
    second = wider.build_trainer()
    assert second is not first and trainer_cache.kept_count() == 2
    assert second.tracing_count == 0  # a trainer of its own, traced on its first step
    second.train_steps(1)
    assert second.tracing_count == 1

    trainer_cache.enable(False)  # off: every run builds its own
    again = TrainingSession(_cfg(tmp_path, base), tmp_path / "c").build_trainer()
    assert again is not first


def test_xla_runs_keep_their_compiled_code_in_the_persistent_cache(tmp_path, monkeypatch):
    """Where XLA is on, `python -m diffexp.train` has TensorFlow write what it compiled under
    paths.xla_cache_dir, in a folder of this machine's type; a TF_XLA_FLAGS cache flag the user
    set wins."""
    cache = tmp_path / "xla"
    command = [
        sys.executable,
        "-m",
        "diffexp.train",
        "profile=smoke",
        "trainer.jit_compile=true",
        "trainer.epochs=1",
        f"paths.output_dir={tmp_path / 'outputs'}",
        f"paths.cache_dir={REPO / 'outputs' / 'data_cache'}",
        f"paths.xla_cache_dir={cache}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "TF_XLA_FLAGS"}
    subprocess.run(
        command,
        cwd=REPO,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=True,
        capture_output=True,
        timeout=600,
    )
    folders = list(cache.iterdir())
    assert len(folders) == 1 and folders[0].name.startswith(os.uname().machine)
    assert list(folders[0].glob("xla_compile_cache__*"))  # compiled executables written

    own = f"--tf_xla_persistent_cache_directory={tmp_path / 'own'}"
    monkeypatch.setenv("TF_XLA_FLAGS", own)
    assert runtime.use_persistent_xla_cache(cache) is None
    assert os.environ["TF_XLA_FLAGS"] == own


def test_a_run_that_averages_its_weights_is_never_kept_nor_reused(caches, tmp_path):
    """The weight average starts from the run's own initial weights; a reset to another run's
    start cannot give that, so phase 2's averaged runs always build their own trainer."""
    averaged = ["data.seed=5", "trainer.ema_momentum=0.9"]
    first = TrainingSession(_cfg(tmp_path, averaged), tmp_path / "a").build_trainer()
    second = TrainingSession(_cfg(tmp_path, averaged), tmp_path / "b").build_trainer()
    assert second is not first and trainer_cache.kept_count() == 0
    plain = TrainingSession(_cfg(tmp_path, ["data.seed=5"]), tmp_path / "c").build_trainer()
    assert trainer_cache.kept_count() == 1 and plain is not first
