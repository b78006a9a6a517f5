"""The close-checkpoint ranking separates estimators: on checkpoints whose true losses differ by
less than a re-drawing estimator's noise, that estimator orders about half the pairs right,
while one with a fixed draw (the noise common to every checkpoint) orders them all."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import close_ranking


def test_interpolated_weights_run_from_start_to_end():
    start, end = [np.zeros(3), np.ones(2)], [np.full(3, 2.0), np.zeros(2)]
    sets = close_ranking.interpolated_weights(start, end, 3)
    assert [w[0][0] for w in sets] == [0.0, 1.0, 2.0]
    assert [w[1][1] for w in sets] == [1.0, 0.5, 0.0]


def test_only_pairs_closer_than_the_noise_are_scored():
    assert close_ranking.close_pairs([1.0, 1.05, 1.5, 1.0], noise=0.1) == [(0, 1), (1, 3)]
    assert close_ranking.concordance([3, 2, 1], [1, 2, 3], []) is None
    assert close_ranking.concordance([1, 2, 2], [1, 2, 3], [(0, 1), (1, 2)]) == 0.75


def test_a_fresh_draw_estimator_fails_and_a_fixed_draw_one_passes():
    rng = np.random.default_rng(0)
    true = 0.35 + 0.001 * np.arange(8)  # graded gaps of 1e-3 .. 7e-3
    per_sample = rng.normal(0.0, 0.1, size=(4000,))  # what one draw adds to each sample's loss

    def fixed_draw(loss: float) -> float:  # the same samples and noise for every checkpoint
        return loss + per_sample[:400].mean()

    def fresh_draw(loss: float) -> float:  # new samples and noise on every call
        return loss + rng.choice(per_sample, 400).mean()

    noise = np.std([fresh_draw(0.35) for _ in range(50)], ddof=1)
    pairs = close_ranking.close_pairs(true, noise)
    assert len(pairs) >= 10
    fixed = close_ranking.concordance([fixed_draw(v) for v in true], true, pairs)
    fresh = close_ranking.concordance([fresh_draw(v) for v in true], true, pairs)
    assert fixed == 1.0
    assert fresh < 0.9


def test_measure_restores_the_model_weights():
    class Model:
        def __init__(self):
            self.weights = [np.zeros(2)]

        def get_weights(self):
            return [w.copy() for w in self.weights]

        def set_weights(self, weights):
            self.weights = [np.asarray(w) for w in weights]

    model = Model()
    sets = close_ranking.interpolated_weights([np.zeros(2)], [np.ones(2)], 3)
    values = close_ranking.measure(
        model,
        sets,
        {"sum": lambda: float(model.weights[0].sum())},
        lambda: float(model.weights[0].sum()) * 2,
    )
    assert values == {"sum": [0.0, 1.0, 2.0], "reference": [0.0, 2.0, 4.0]}
    assert model.weights[0].tolist() == [0.0, 0.0]
    assert close_ranking.noise_of(iter([1.0, 3.0]).__next__, 2) == pytest.approx(np.sqrt(2))
