"""A smoke training run writes every artifact with sane values; resume continues exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffexp import names
from diffexp.training import checkpoints, records
from diffexp.training.session import RunFolderInUse, TrainingSession

METRIC_FIELDS = {
    "epoch",
    "train_loss",
    "val_loss",
    "training_time_seconds",
    "samples_per_second",
    "learning_rate",
    "validation_seconds",
}


class InterruptAfter:
    """A reporter that stops the run after `epoch`, as a kill between epochs would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def report(self, epoch: int, value: float) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    from tests.conftest import compose_config

    tmp = tmp_path_factory.mktemp("smoke")
    cfg = compose_config(tmp, ["trainer.epochs=3"])
    run_dir = tmp / "run"
    result = TrainingSession(cfg, run_dir).run()
    return cfg, run_dir, result


def test_smoke_run_writes_every_artifact(smoke_run):
    cfg, run_dir, result = smoke_run
    rows = records.read_metrics(run_dir)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert row.keys() >= METRIC_FIELDS
        assert 0 < row["val_loss"] < 10 and 0 < row["train_loss"] < 10
        assert row["samples_per_second"] > 0 and row["learning_rate"] > 0
    times = [r["training_time_seconds"] for r in rows]
    assert times == sorted(times)
    summary = json.loads((run_dir / names.SUMMARY_FILE).read_text())
    assert summary["best_val_loss"] == pytest.approx(min(r["val_loss"] for r in rows))
    assert summary["best_val_loss"] == pytest.approx(result.best_val_loss)
    assert summary["best_epoch"] == result.best_epoch
    assert summary["final_train_loss"] == pytest.approx(rows[-1]["train_loss"])
    assert summary["parameter_count"] > 1000
    assert {"tensorflow-cpu", "keras", "optuna"} & summary["package_versions"].keys()
    assert summary["hardware"]["cores"] >= 1
    assert "git_commit" in summary
    assert (run_dir / names.CURVES_FILE).stat().st_size > 10_000
    assert (run_dir / names.BEST_WEIGHTS).stat().st_size > 0
    assert checkpoints.has_checkpoint(run_dir)
    # the loss falls within three smoke epochs
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]


def test_a_second_run_does_not_overwrite_the_first(smoke_run):
    cfg, run_dir, _ = smoke_run
    before = (run_dir / names.METRICS_FILE).read_text()
    with pytest.raises(RunFolderInUse, match="already holds a run"):
        TrainingSession(cfg, run_dir)
    assert (run_dir / names.METRICS_FILE).read_text() == before


@pytest.fixture
def float32_afterwards():
    """Put Keras' global dtype policy back: a float16 run sets it for the process."""
    import keras

    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="fp32"),
        # LossScaleOptimizer adds variables when built twice: restore by path, not position
        pytest.param(["precision=mixed_float16", "precision.force=true"], id="float16"),
        # the dropout layers' seed generators are state too
        pytest.param(["model.dropout=0.2"], id="dropout"),
    ],
)
def test_resume_continues_from_the_saved_step_exactly(
    make_config, tmp_path, extra, float32_afterwards
):
    cfg = make_config(["trainer.epochs=4", "trainer.early_stopping.patience=null", *extra])
    straight_dir, broken_dir = tmp_path / "straight", tmp_path / "broken"
    TrainingSession(cfg, straight_dir).run()
    with pytest.raises(KeyboardInterrupt):
        TrainingSession(cfg, broken_dir).run(InterruptAfter(2))
    state = json.loads((broken_dir / "last_checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and state["step"] == 2 * cfg.trainer.steps_per_epoch
    assert json.loads((broken_dir / names.SUMMARY_FILE).read_text())["stop_reason"] == "interrupted"

    cfg.trainer.resume = True
    TrainingSession(cfg, broken_dir).run()
    resumed = records.read_metrics(broken_dir)
    straight = records.read_metrics(straight_dir)
    assert [r["epoch"] for r in resumed] == [1, 2, 3, 4]
    assert [r["step"] for r in resumed] == [r["step"] for r in straight]
    np.testing.assert_allclose(
        [r["train_loss"] for r in resumed], [r["train_loss"] for r in straight], rtol=1e-4
    )
    np.testing.assert_allclose(
        [r["val_loss"] for r in resumed], [r["val_loss"] for r in straight], rtol=1e-4
    )
    np.testing.assert_allclose(
        [r["learning_rate"] for r in resumed], [r["learning_rate"] for r in straight], rtol=1e-6
    )


def test_resume_without_checkpoint_is_refused(make_config, tmp_path):
    cfg = make_config(["trainer.resume=true"])
    with pytest.raises(RunFolderInUse, match="has no checkpoint"):
        TrainingSession(cfg, tmp_path / "empty")


def test_min_delta_returns_the_loss_the_summary_reports(make_config, tmp_path):
    """trainer.early_stopping.min_delta decides when patience resets, never which loss is the
    best: the value returned to Optuna, the summary and the best epoch agree."""
    cfg = make_config(
        [
            "trainer.epochs=3",
            "trainer.early_stopping.patience=null",
            "trainer.early_stopping.min_delta=10.0",  # no epoch improves by this much
        ]
    )
    run_dir = tmp_path / "run"
    result = TrainingSession(cfg, run_dir).run()
    rows = records.read_metrics(run_dir)
    best = min(rows, key=lambda r: r["val_loss"])
    assert best["epoch"] > 1, "the test needs a later epoch to improve"
    summary = json.loads((run_dir / names.SUMMARY_FILE).read_text())
    assert result.best_val_loss == summary["best_val_loss"] == best["val_loss"]
    assert result.best_epoch == summary["best_epoch"] == best["epoch"]


class PruneAfter:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def report(self, epoch: int, value: float) -> None:
        import optuna

        if epoch == self.epoch:
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")


def test_a_failed_final_write_keeps_the_pruned_stop_reason(make_config, tmp_path, monkeypatch):
    """The best weights are written whatever ended the run; a full disk then must not replace
    the reason the run stopped (pruned) with a disk error."""
    import errno

    import optuna

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "save_best_weights", full_disk)
    cfg = make_config(["trainer.epochs=3", "trainer.early_stopping.patience=null"])
    run_dir = tmp_path / "run"
    with pytest.raises(optuna.TrialPruned):
        TrainingSession(cfg, run_dir).run(PruneAfter(1))
    assert json.loads((run_dir / names.SUMMARY_FILE).read_text())["stop_reason"] == "pruned"
