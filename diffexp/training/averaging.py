"""The weights that validation, the best checkpoint and generation use: the optimizer's
exponential moving average of the weights when `optimizer.ema_momentum` is set (Keras'
`use_ema`), the raw weights otherwise.

Keras swaps the average in only at the end of `model.fit` (`finalize_variable_values`);
diffexp's own loop validates every epoch and keeps the best epoch's weights, so it swaps the
average in around each validation and swaps the raw weights back for the next step. The
averages are optimizer variables, so the resumable checkpoint carries them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keras


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
