"""The weights that validation, the best checkpoint and generation use: the optimizer's
exponential moving average of the weights when `trainer.ema_momentum` is set (Keras'
`use_ema`), the raw weights otherwise.

Keras swaps the average in only at the end of `model.fit` (`finalize_variable_values`);
diffexp's own loop validates every epoch and keeps the best epoch's weights, so it swaps the
average in around each validation and swaps the raw weights back for the next step. The
averages are optimizer variables, so the resumable checkpoint carries them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import keras

log = logging.getLogger(__name__)

# Keras' average starts from the initial (random) weights without a bias correction: after n
# steps they still weigh momentum**n in it. Measured on the demo's phase 2 (3,000 steps):
# momentum 0.999 leaves 5% of them and generated events an AUC of 1.00 (energy scale 16% off).
MAX_INITIAL_WEIGHT_SHARE = 0.01


def warn_if_the_start_remains(momentum: float | None, n_steps: int) -> None:
    """Log a warning naming trainer.ema_momentum when the initial weights would keep more
    than MAX_INITIAL_WEIGHT_SHARE of the average at the end of the run."""
    if momentum is None:
        return
    share = float(momentum) ** n_steps
    if share > MAX_INITIAL_WEIGHT_SHARE:
        log.warning(
            "trainer.ema_momentum=%s keeps %.0f%% of the random initial weights in the average "
            "after %d steps; use a momentum m with m**steps < %g (e.g. %.4f)",
            momentum,
            100 * share,
            n_steps,
            MAX_INITIAL_WEIGHT_SHARE,
            MAX_INITIAL_WEIGHT_SHARE ** (1 / n_steps),
        )


def keeps_average(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether the optimizer (or the one a LossScaleOptimizer wraps) keeps a weight average."""
    return bool(getattr(getattr(optimizer, "inner_optimizer", optimizer), "use_ema", False))


@contextmanager
def averaged_weights(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> Iterator[None]:
    """Inside: the model holds the optimizer's weight average (unchanged without one);
    afterwards the raw weights the optimizer goes on training."""
    if not keeps_average(optimizer):
        yield
        return
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    variables = model.trainable_variables
    raw = [variable.numpy() for variable in variables]
    inner.finalize_variable_values(variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, raw, strict=True):
            variable.assign(value)
