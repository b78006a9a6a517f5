"""A generator that hands back training events loses in the overall score, not only in its
memorisation component (issue 26: every other score test runs on samples with no copies,
whose memorisation factor is 1, and the panel's copies score near zero physics anyway)."""

from __future__ import annotations

import numpy as np
import pytest

from diffexp.data import EventSet


def test_half_copied_training_events_halve_the_overall_score(calibration, samples, training):
    """Half the events are fresh simulations, half are training events with their own
    conditions: every event is real physics, so the classifier (whose calibrated AUC is the
    score's physics part) stays high, and only the memorisation factor (0.5) can pull the
    score down, by about half."""
    fresh = samples.draw(9)
    copied = np.arange(fresh.n_events // 2)
    charges, conditions = fresh.charges.copy(), fresh.conditions.copy()
    charges[copied] = training.charges[copied]
    conditions[copied] = training.conditions[copied]
    report = calibration.score(EventSet(charges, conditions, fresh.condition_names))

    scores = report.component_scores()
    physics = scores["classifier"]
    memorisation = scores["memorisation"]
    assert 0.45 <= memorisation <= 0.55, scores  # the copies, and only they, count as copied
    assert physics >= 0.8, scores  # nothing physical is wrong with a copied event
    # the copies cost the overall score at least 40% of its physics (a score that ignored
    # them would stay at the classifier's score, >= 0.8)
    assert report.score <= 0.6 * physics, (report.score, scores)
    assert report.score == pytest.approx(physics * memorisation)  # the documented product
