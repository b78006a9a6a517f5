"""`trainer.ema_momentum`: validation, the best checkpoint (the weights generation loads)
and the resumable checkpoint carry the optimizer's weight average, not the raw weights."""

from __future__ import annotations

import numpy as np
import pytest

from diffexp import names
from diffexp.config_checks import validate_config
from diffexp.errors import ConfigError
from diffexp.training import checkpoints, records
from diffexp.training.averaging import averaged_weights, keeps_average
from tests.training.test_accumulation_and_validation import make_trainer

AVERAGED = ["trainer.ema_momentum=0.9", "optimizer.lr=1e-2", "trainer.steps_per_epoch=6"]


def averaged_and_raw(trainer) -> tuple[list[np.ndarray], list[np.ndarray]]:
    with averaged_weights(trainer.model, trainer.optimizer):
        averaged = trainer.model.get_weights()
    return averaged, trainer.model.get_weights()


def assert_weights_differ(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert any(not np.allclose(x, y) for x, y in zip(a, b, strict=True))


def test_the_best_weights_and_their_validation_loss_are_the_averaged_ones(make_config, tmp_path):
    trainer = make_trainer(make_config, tmp_path, ["trainer.epochs=1", *AVERAGED])
    assert keeps_average(trainer.optimizer)
    trainer.fit()
    averaged, raw = averaged_and_raw(trainer)
    assert_weights_differ(averaged, raw)  # else the test could not tell them apart
    for kept, expected in zip(trainer.model.get_weights(), raw, strict=True):
        np.testing.assert_array_equal(kept, expected)  # training goes on from the raw weights

    trainer.model.load_weights(tmp_path / names.BEST_WEIGHTS)  # what generation loads
    for stored, expected in zip(trainer.model.get_weights(), averaged, strict=True):
        np.testing.assert_array_equal(stored, expected)
    (row,) = records.read_metrics(tmp_path)
    np.testing.assert_allclose(trainer.validator.validate(), row["val_loss"], rtol=1e-5)


def test_the_resumable_checkpoint_keeps_the_average(make_config, tmp_path):
    trained = make_trainer(make_config, tmp_path, ["trainer.epochs=1", *AVERAGED])
    trained.fit()
    averaged, raw = averaged_and_raw(trained)
    fresh = make_trainer(make_config, tmp_path, ["trainer.epochs=1", *AVERAGED])
    checkpoints.load_checkpoint(tmp_path, fresh.model, fresh.optimizer, fresh.rng)
    restored_averaged, restored_raw = averaged_and_raw(fresh)
    for restored, expected in zip(restored_averaged + restored_raw, averaged + raw, strict=True):
        np.testing.assert_array_equal(restored, expected)


def test_without_a_momentum_the_raw_weights_are_used(make_config, tmp_path):
    trainer = make_trainer(make_config, tmp_path, ["trainer.epochs=1"])
    assert not keeps_average(trainer.optimizer)
    trainer.fit()
    averaged, raw = averaged_and_raw(trainer)
    for a, b in zip(averaged, raw, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("momentum", ["0", "1", "1.5"])
def test_a_momentum_outside_zero_to_one_is_refused(make_config, momentum):
    with pytest.raises(ConfigError, match="trainer.ema_momentum"):
        validate_config(make_config([f"trainer.ema_momentum={momentum}"]))


def test_a_momentum_that_keeps_the_random_start_is_warned_about(make_config, tmp_path, caplog):
    make_trainer(make_config, tmp_path, ["trainer.epochs=1", *AVERAGED])  # 0.9**6 = 53%
    assert "trainer.ema_momentum=0.9 keeps 53% of the random initial weights" in caplog.text
    caplog.clear()
    make_trainer(make_config, tmp_path, ["trainer.epochs=1", "trainer.ema_momentum=0.1"])
    assert "ema_momentum" not in caplog.text
