"""best_model.weights.h5 holds the best epoch's weights, whatever ends the run: the trainer
keeps them in memory (and in each checkpoint) and writes the Keras file when fit ends."""

from __future__ import annotations

import numpy as np
import pytest

from diffexp import names
from diffexp.training import records
from tests.training.test_accumulation_and_validation import make_trainer

SPOIL_AFTER = 2


class RecordAndSpoil:
    """Keeps each epoch's weights (reported after the epoch), spoils the weights with large
    noise after epoch SPOIL_AFTER (so the later epochs are worse and the best is not the
    last), and stops after `stop_after`."""

    def __init__(self, model, stop_after: int | None) -> None:
        self.model, self.stop_after, self.weights = model, stop_after, {}

    def report(self, epoch: int, value: float) -> None:
        self.weights[epoch] = self.model.get_weights()
        if epoch == SPOIL_AFTER:
            rng = np.random.default_rng(0)
            self.model.set_weights(
                [w + 5 * max(float(np.std(w)), 0.1) * rng.normal(size=w.shape) for w in
                 self.weights[epoch]]
            )  # fmt: skip
        if epoch == self.stop_after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("stop_after", [None, 3])
def test_best_weights_file_reproduces_the_best_validation_loss(make_config, tmp_path, stop_after):
    trainer = make_trainer(
        make_config,
        tmp_path,
        ["trainer.epochs=4", "trainer.steps_per_epoch=3", "optimizer.lr=1e-3"],
    )
    recorder = RecordAndSpoil(trainer.model, stop_after)
    if stop_after is None:
        trainer.fit(reporter=recorder)
    else:
        with pytest.raises(KeyboardInterrupt):
            trainer.fit(reporter=recorder)
    rows = records.read_metrics(tmp_path)
    assert len(rows) == (stop_after or 4)
    best = min(rows, key=lambda r: r["val_loss"])
    assert best["epoch"] <= SPOIL_AFTER < rows[-1]["epoch"]  # a file of the last weights fails
    trainer.model.load_weights(tmp_path / names.BEST_WEIGHTS)
    np.testing.assert_allclose(trainer.validator.validate(), best["val_loss"], rtol=1e-5)
    for stored, kept in zip(
        trainer.model.get_weights(), recorder.weights[best["epoch"]], strict=True
    ):
        np.testing.assert_array_equal(stored, kept)
