"""Achieved arithmetic rate: the denoiser's matmul FLOPs per sample and this machine's own
float32 matmul rate, so "fraction of the machine" is measured, not looked up."""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import tensorflow as tf

TRAIN_FLOP_FACTOR = 3  # forward + backward (gradients w.r.t. inputs and weights) = 3x forward


def dense_flops_per_sample(model: keras.Model) -> int:
    """Forward matmul FLOPs of one sample: 2 * inputs * outputs for every Dense layer, times
    the rows it is applied to per sample (one per PMT in the per-PMT denoiser), and 2 * kernel
    size for every output position of a convolution (a user's denoiser may convolve over the
    PMTs). Biases, activations and normalisations are left out: they are a few percent of the
    work."""
    total = 0
    for layer in _layers(model):
        if isinstance(layer, (keras.layers.Dense, *_CONVOLUTIONS)):
            positions = math.prod(int(d) for d in layer.output.shape[1:-1])
            total += 2 * math.prod(int(d) for d in layer.kernel.shape) * positions
    return total


_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def _layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def training_gflop_per_sample(model: keras.Model) -> float:
    return TRAIN_FLOP_FACTOR * dense_flops_per_sample(model) / 1e9


def matmul_runner(size: int, iterations: int) -> tuple[Callable[[], None], float]:
    """(a callable doing `iterations` float32 size x size matmuls, its GFLOP)."""
    a = tf.random.stateless_normal([size, size], seed=[1, 2])
    b = tf.random.stateless_normal([size, size], seed=[3, 4])

    @tf.function
    def chain(a, b):
        total = tf.zeros([], tf.float32)
        for _ in range(iterations):
            c = tf.matmul(a, b)
            total += c[0, 0]
            a = a + 1e-6 * total  # a data dependency, so no matmul is skipped or merged
        return total

    return (lambda: float(chain(a, b))), 2.0 * size**3 * iterations / 1e9
