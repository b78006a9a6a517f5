"""`trainer.checkpoint_metric=sample_auc`: the epoch whose generated events score best (not the
lowest validation loss) becomes best_model.weights.h5, measured every
`trainer.sample_metric_every_epochs` epochs and at the last."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffexp import names
from diffexp.train import sample_metric_of
from diffexp.training import records
from diffexp.training.preparation import PreparedData
from diffexp.training.session import TrainingSession
from diffexp.training.trainer import Trainer
from tests.training.test_accumulation_and_validation import tiny_arrays, trainer_config
from tests.training.test_best_weights import SPOIL_AFTER, RecordAndSpoil


class PlantedMetric:
    """Returns the planted values in turn, and records the epochs' weights it saw."""

    def __init__(self, values: list[float]) -> None:
        self.values, self.seen = list(values), []

    def __call__(self, model) -> float:
        self.seen.append(model.get_weights())
        return self.values[len(self.seen) - 1]


def planted_trainer(make_config, tmp_path, epochs: int, every: int, metric) -> Trainer:
    cfg = trainer_config(
        make_config,
        [
            f"trainer.epochs={epochs}",
            "trainer.steps_per_epoch=4",
            "optimizer.lr=1e-2",
            "trainer.checkpoint_metric=sample_auc",
            f"trainer.sample_metric_every_epochs={every}",
        ],
    )
    x, c = tiny_arrays()
    return Trainer.from_config(
        cfg, PreparedData(x, c, x[:64], c[:64]), tmp_path, sample_metric=metric
    )


def test_the_epoch_with_the_best_sample_metric_is_kept(make_config, tmp_path):
    """Weights spoiled after epoch 2 make the loss prefer epoch 1 or 2; the planted metric
    prefers epoch 4, neither the loss's choice nor the last."""
    metric = PlantedMetric([0.70, 0.66, 0.64, 0.61, 0.65])
    trainer = planted_trainer(make_config, tmp_path, 5, 1, metric)
    result = trainer.fit(reporter=RecordAndSpoil(trainer.model, stop_after=None))
    rows = records.read_metrics(tmp_path)
    assert [row["sample_metric"] for row in rows] == [0.70, 0.66, 0.64, 0.61, 0.65]
    assert min(rows, key=lambda r: r["val_loss"])["epoch"] <= SPOIL_AFTER
    assert result.best_epoch == 4
    loaded = planted_trainer(make_config, tmp_path / "load", 5, 1, metric)
    loaded.model.load_weights(tmp_path / names.BEST_WEIGHTS)
    for stored, seen in zip(loaded.model.get_weights(), metric.seen[3], strict=True):
        np.testing.assert_array_equal(stored, seen)


def test_the_metric_is_measured_every_k_epochs_and_at_the_last(make_config, tmp_path):
    metric = PlantedMetric([0.65, 0.60, 0.62])
    result = planted_trainer(make_config, tmp_path, 5, 2, metric).fit()
    rows = records.read_metrics(tmp_path)
    measured = {row["epoch"]: row["sample_metric"] for row in rows if "sample_metric" in row}
    assert measured == {2: 0.65, 4: 0.60, 5: 0.62}
    assert result.best_epoch == 4


def test_a_run_chooses_its_checkpoint_by_generated_events(make_config, tmp_path):
    """The real metric (the headline classifier on generated events) on the training model;
    the summary names the epoch it chose."""
    cfg = make_config(
        [
            "trainer.epochs=2",
            "trainer.checkpoint_metric=sample_auc",
            "trainer.sample_metric_every_epochs=1",
            "trainer.sample_metric_events=60",
        ]
    )
    run_dir = tmp_path / "run"
    result = TrainingSession(cfg, run_dir).run(sample_metric=sample_metric_of(cfg))
    rows = records.read_metrics(run_dir)
    aucs = [row["sample_metric"] for row in rows]
    assert len(aucs) == 2 and all(0.4 < auc <= 1.0 for auc in aucs)
    summary = json.loads((run_dir / names.SUMMARY_FILE).read_text())
    assert summary["best_epoch"] == result.best_epoch == 1 + int(np.argmin(aucs))
    assert summary["best_sample_metric"] == min(aucs)


def test_the_validation_loss_chooses_by_default(make_config):
    assert sample_metric_of(make_config()) is None
    with pytest.raises(ValueError, match="no sample_metric"):
        planted_trainer(make_config, None, 2, 1, None)
