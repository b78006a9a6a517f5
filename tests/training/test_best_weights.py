"""best_model.weights.h5 holds the best epoch's weights, whatever ends the run: the trainer
keeps them in memory (and in each checkpoint) and writes the Keras file when fit ends."""

from __future__ import annotations

import numpy as np
import pytest

from diffexp import names
from diffexp.training import records
from tests.training.test_accumulation_and_validation import make_trainer
from tests.training.test_training_run import InterruptAfter


@pytest.mark.parametrize("stop_after", [None, 3])
def test_best_weights_file_reproduces_the_best_validation_loss(make_config, tmp_path, stop_after):
    trainer = make_trainer(
        make_config,
        tmp_path,
        ["trainer.epochs=4", "trainer.steps_per_epoch=3", "optimizer.lr=0.3"],
    )
    if stop_after is None:
        trainer.fit()
    else:
        with pytest.raises(KeyboardInterrupt):
            trainer.fit(reporter=InterruptAfter(stop_after))
    rows = records.read_metrics(tmp_path)
    assert len(rows) == (stop_after or 4)
    best = min(r["val_loss"] for r in rows)
    last_weights = trainer.model.get_weights()
    trainer.model.load_weights(tmp_path / names.BEST_WEIGHTS)
    np.testing.assert_allclose(trainer.validator.validate(), best, rtol=1e-5)
    if best != rows[-1]["val_loss"]:  # the file is the best epoch's, not the last one's
        assert any(
            not np.array_equal(a, b)
            for a, b in zip(trainer.model.get_weights(), last_weights, strict=True)
        )
