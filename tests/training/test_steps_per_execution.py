"""Several optimizer steps per compiled call: the same training as one step per call, one
trace for any chunk length, divergence reported at the step where it happened, and XLA
switched on by `auto` only for runs long enough to repay its compilation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diffexp.training.results import DivergedError
from diffexp.training.trainer import XLA_AUTO_MIN_STEPS, resolve_jit_compile
from tests.training.test_accumulation_and_validation import make_trainer


def test_one_call_of_n_steps_trains_like_n_single_steps(make_config, tmp_path):
    chunked = make_trainer(make_config, tmp_path / "a", ["trainer.batch_size=32"])
    single = make_trainer(make_config, tmp_path / "b", ["trainer.batch_size=32"])
    single.model.set_weights(chunked.model.get_weights())  # the batch/noise RNGs share a seed
    mean_loss, first_bad = chunked.train_steps(5)
    losses = [single.train_step() for _ in range(5)]
    assert first_bad == -1
    np.testing.assert_allclose(mean_loss, np.mean(losses), rtol=1e-5)
    for a, b in zip(chunked.model.weights, single.model.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert int(chunked.optimizer.iterations) == int(single.optimizer.iterations) == 5


def test_chunks_of_any_length_share_one_trace(make_config, tmp_path):
    trainer = make_trainer(make_config, tmp_path, ["trainer.batch_size=32"])
    for n in (1, 3, 7):
        trainer.train_steps(n)
    assert trainer._compiled_steps.experimental_get_tracing_count() == 1
    assert int(trainer.optimizer.iterations) == 11


def test_divergence_inside_a_chunk_names_its_epoch_and_step(make_config, tmp_path):
    """lr=1e6 blows the weights up within a few steps of the first chunk of 4."""
    trainer = make_trainer(
        make_config,
        tmp_path,
        [
            "optimizer.lr=1e6",
            "optimizer.gradient_clip=null",
            "trainer.epochs=2",
            "trainer.steps_per_epoch=8",
            "trainer.steps_per_execution=4",
        ],
    )
    with pytest.raises(DivergedError) as error:
        trainer.fit()
    assert error.value.epoch == 1
    assert 1 <= error.value.step <= 8
    assert not math.isfinite(error.value.loss)


@pytest.mark.parametrize(
    ("setting", "steps", "expected"),
    [
        (True, 10, True),
        (False, 10**6, False),
        ("auto", XLA_AUTO_MIN_STEPS - 1, False),
        ("auto", XLA_AUTO_MIN_STEPS, True),
    ],
)
def test_jit_compile_auto_follows_the_run_length_on_a_cpu(setting, steps, expected, monkeypatch):
    monkeypatch.setattr("diffexp.runtime.gpu_available", lambda: False)
    assert resolve_jit_compile(setting, steps) is expected
