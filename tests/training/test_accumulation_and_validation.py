"""Gradient accumulation matches one large batch; fast validation is deterministic and
tape-free while the naive one is neither."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from diffexp.training.preparation import PreparedData
from diffexp.training.trainer import Trainer
from diffexp.training.validation import FastValidator, NaiveValidator, build_validator

N_FEATURES, N_CONDITIONS = 16, 4


def tiny_arrays(n: int = 256, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, N_FEATURES)).astype(np.float32)
    c = rng.standard_normal((n, N_CONDITIONS)).astype(np.float32)
    return x, c


def trainer_config(make_config, overrides):
    return make_config(
        [
            "model.prior=none",  # random arrays: no detector behind them
            "model.hidden_dim=32",
            "model.n_layers=2",
            "model.t_emb_dim=8",
            "schedule=constant",
            *overrides,
        ]
    )


def make_trainer(make_config, tmp_path, overrides, cfg=None):
    cfg = cfg if cfg is not None else trainer_config(make_config, overrides)
    x, c = tiny_arrays()
    return Trainer.from_config(cfg, PreparedData(x, c, x[:64], c[:64]), tmp_path)


_compiled_steps = {}


def step_on(trainer, x0, conditions, t, noise) -> float:
    """One optimizer step of `trainer` on the given micro-batches (compiled once per trainer,
    as the trainer compiles its own step loop) instead of the ones it draws itself."""
    if id(trainer) not in _compiled_steps:
        _compiled_steps[id(trainer)] = tf.function(
            trainer.optimizer_step, jit_compile=trainer.settings.jit_compile
        )
    return float(_compiled_steps[id(trainer)](x0, conditions, t, noise))


def test_four_accumulated_micro_batches_equal_one_batch(make_config, tmp_path):
    one = make_trainer(make_config, tmp_path / "a", ["trainer.batch_size=128"])
    four = make_trainer(
        make_config, tmp_path / "b", ["trainer.batch_size=128", "optimizer.accumulation_steps=4"]
    )
    four.model.set_weights(one.model.get_weights())
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((128, N_FEATURES)).astype(np.float32)
    cond = rng.standard_normal((128, N_CONDITIONS)).astype(np.float32)
    t = rng.integers(0, one.objective.n_steps, 128).astype(np.int32)
    noise = rng.standard_normal((128, N_FEATURES)).astype(np.float32)
    for _ in range(2):  # two optimizer steps: Adam's moments must agree too
        step_on(one, x0[None], cond[None], t[None], noise[None])
        step_on(
            four,
            x0.reshape(4, 32, -1),
            cond.reshape(4, 32, -1),
            t.reshape(4, 32),
            noise.reshape(4, 32, -1),
        )
    for a, b in zip(one.model.get_weights(), four.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert int(one.optimizer.iterations) == int(four.optimizer.iterations) == 2
    moved = [
        np.abs(a - b).max()
        for a, b in zip(
            one.model.get_weights(),
            make_trainer(
                make_config, tmp_path / "c", ["trainer.batch_size=128"]
            ).model.get_weights(),
            strict=True,
        )
    ]
    assert max(moved) > 0  # the steps did change the weights


def test_schedule_counts_optimizer_steps_under_accumulation(make_config, tmp_path):
    cfg = trainer_config(
        make_config,
        [
            "trainer.batch_size=32",
            "optimizer.accumulation_steps=4",
            "schedule=cyclical",
            "schedule.step_size_epochs=1",
            "trainer.steps_per_epoch=4",
        ],
    )
    trainer = make_trainer(make_config, tmp_path, [], cfg=cfg)
    from diffexp.training.optimizers import current_learning_rate

    lrs = []
    for _ in range(4):
        lrs.append(current_learning_rate(trainer.optimizer))
        trainer.train_step()
    lr = float(cfg.optimizer.lr)
    base = lr * float(cfg.schedule.base_lr_fraction)
    # half-cycle of 4 optimizer steps: base, +1/4, +2/4, +3/4 of the way up
    np.testing.assert_allclose(lrs, [base + k / 4 * (lr - base) for k in range(4)], rtol=1e-5)


class CountingTape(tf.GradientTape):
    created = 0

    def __init__(self, *args, **kwargs):
        CountingTape.created += 1
        super().__init__(*args, **kwargs)


def test_fast_validation_is_deterministic_and_uses_no_tape(make_config, tmp_path, monkeypatch):
    trainer = make_trainer(make_config, tmp_path, ["validation=fast"])
    x, c = tiny_arrays(200, seed=3)
    fast = FastValidator(trainer.objective, x, c, batch_size=32, n_batches=5, seed=11)
    naive = NaiveValidator(trainer.objective, x, c, batch_size=32, n_batches=5, seed=11)
    monkeypatch.setattr(tf, "GradientTape", CountingTape)
    CountingTape.created = 0
    first, second = fast.validate(), fast.validate()
    assert CountingTape.created == 0
    assert first == second
    naive_first, naive_second = naive.validate(), naive.validate()
    assert CountingTape.created == 10  # one tape per naive batch
    assert naive_first != naive_second  # fresh random draws every call
    # both estimate the same expected loss: the fixed draw lies within the spread of fresh ones
    draws = np.array([naive.validate() for _ in range(20)])
    assert abs(first - draws.mean()) < 5 * draws.std() + 1e-6, (first, draws.mean(), draws.std())
    # fixed weights -> same loss; changed weights -> different loss
    trainer.train_step()
    assert fast.validate() != first


def test_fast_validation_uses_double_batches_and_n_batches(make_config, tmp_path):
    trainer = make_trainer(make_config, tmp_path, ["validation=fast", "trainer.batch_size=16"])
    assert isinstance(trainer.validator, FastValidator)
    assert trainer.validator.n_samples == 64  # min(64 validation samples, 20 x 32)
    assert trainer.validator.batch_shape == (2, 32)


def test_validation_sees_n_batches_of_double_training_batches_when_data_have_more(
    make_config, tmp_path
):
    """With more validation data than it needs, validation covers n_batches x
    batch_size_factor x the training batch of them (5 x 2 x 4 = 40 of 256 here): its loss
    moves when the 40th sample changes and not when the 41st does. The trainer above has only
    64 validation samples, which hid how many batches were used."""
    cfg = trainer_config(
        make_config, ["validation=fast", "trainer.batch_size=4", "validation.n_batches=5"]
    )
    assert int(cfg.validation.batch_size_factor) == 2
    x, c = tiny_arrays(256, seed=7)
    trainer = Trainer.from_config(cfg, PreparedData(x, c, x, c), tmp_path)
    seen = 5 * 2 * 4
    assert trainer.validator.n_samples == seen
    assert trainer.validator.batch_shape == (5, 8)

    def loss_with_sample_changed(index: int | None) -> float:
        x_val = x.copy()
        if index is not None:
            x_val[index] += 5.0
        validator = build_validator(cfg.validation, trainer.objective, x_val, c, 4, seed=3)
        return validator.validate()

    loss = loss_with_sample_changed(None)
    assert loss_with_sample_changed(seen - 1) != loss
    assert loss_with_sample_changed(seen) == loss


def test_fast_validation_masks_the_padded_last_batch(make_config, tmp_path):
    """70 samples in batches of 32 (the last padded to 32) give the same loss as one batch of
    70: the draws are per sample, so only the padding could make them differ."""
    trainer = make_trainer(make_config, tmp_path, ["validation=fast"])
    x, c = tiny_arrays(70, seed=5)
    padded = FastValidator(trainer.objective, x, c, batch_size=32, n_batches=3, seed=2)
    whole = FastValidator(trainer.objective, x, c, batch_size=70, n_batches=1, seed=2)
    assert padded.batch_shape == (3, 32) and whole.batch_shape == (1, 70)
    assert padded.n_samples == whole.n_samples == 70
    np.testing.assert_allclose(padded.validate(), whole.validate(), rtol=1e-5)


def test_stratified_steps_cover_the_chain_evenly():
    from diffexp.training.validation import stratified_steps

    steps = stratified_steps(np.random.default_rng(0), 1000, 1000)
    assert sorted(steps.tolist()) == list(range(1000))  # one sample per step when n == T
    counts = np.bincount(stratified_steps(np.random.default_rng(1), 500, 10), minlength=10)
    assert counts.tolist() == [50] * 10
