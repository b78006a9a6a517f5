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


def test_resume_continues_from_the_saved_step_exactly(make_config, tmp_path):
    cfg = make_config(["trainer.epochs=4", "trainer.early_stopping.patience=null"])
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
        [r["val_loss"] for r in resumed], [r["val_loss"] for r in straight], rtol=1e-4
    )
    np.testing.assert_allclose(
        [r["learning_rate"] for r in resumed], [r["learning_rate"] for r in straight], rtol=1e-6
    )


def test_resume_without_checkpoint_is_refused(make_config, tmp_path):
    cfg = make_config(["trainer.resume=true"])
    with pytest.raises(RunFolderInUse, match="has no checkpoint"):
        TrainingSession(cfg, tmp_path / "empty")
