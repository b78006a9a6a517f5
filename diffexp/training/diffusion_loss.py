"""The epsilon-prediction objective shared by training and both validation modes."""

from __future__ import annotations

import tensorflow as tf

from diffexp.models.noise_schedule import NoiseSchedule, add_noise


class DiffusionObjective:
    """MSE between the true noise and the model's prediction at noised x_t (Ho et al. 2020)."""

    def __init__(self, model, schedule: NoiseSchedule) -> None:
        self.model = model
        self.n_steps = schedule.n_steps
        self.sqrt_alpha_bars, self.sqrt_one_minus_alpha_bars = schedule.coefficient_tables()

    def loss(self, x0, conditions, t, noise, training: bool) -> tf.Tensor:
        return tf.reduce_mean(self.per_sample_loss(x0, conditions, t, noise, training))

    def per_sample_loss(self, x0, conditions, t, noise, training: bool) -> tf.Tensor:
        """[batch] mean squared error over each sample's features (every sample has the same
        number of features, so the batch loss is the mean of these)."""
        x_t = add_noise(x0, t, noise, self.sqrt_alpha_bars, self.sqrt_one_minus_alpha_bars)
        prediction = tf.cast(self.model([x_t, t, conditions], training=training), tf.float32)
        return tf.reduce_mean(tf.square(noise - prediction), axis=-1)
