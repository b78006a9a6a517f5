"""The physics score's scale: fresh noise scores ~1, shuffled physics ~0, and a wrong
generator loses on the component that measures what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffexp.data import EventSet
from diffexp.verification.score import (
    COMPONENTS,
    calibrate,
    normalised,
    physics_score,
    shuffled_conditions,
)


def test_fresh_noise_floor_scores_at_least_0_9(calibration, samples):
    report = calibration.score(samples.draw(3))  # not the floor sample used to calibrate
    assert report.score >= 0.9
    assert all(score >= 0.8 for score in report.component_scores().values())


def test_fresh_shuffled_reference_scores_at_most_0_1(calibration, samples):
    report = calibration.score(shuffled_conditions(samples.draw(4), seed=12345))
    assert report.score <= 0.1


def test_charges_scaled_by_1_3_fail_calorimetry(calibration, samples):
    right = calibration.score(samples.draw(5))
    fresh = samples.draw(5)
    scaled = EventSet(fresh.charges * 1.3, fresh.conditions, fresh.condition_names)
    wrong = calibration.score(scaled)
    calorimetry = wrong.components["calorimetry"]
    assert calorimetry.score < right.components["calorimetry"].score - 0.2
    assert calorimetry.metrics["energy_scale"].score < 0.7
    assert wrong.score < right.score - 0.15


def test_dead_pmt_fails_the_per_pmt_distributions(calibration, samples):
    right = calibration.score(samples.draw(6))
    charges = samples.draw(6).charges.copy()
    brightest = int(np.argmax(charges.mean(axis=0)))
    charges[:, brightest] = 0.0
    dead = calibration.score(EventSet(charges, samples.conditions, right_names(samples)))
    per_pmt = dead.components["pmt_distributions"]
    assert per_pmt.metrics["pmt_charge_worst"].score < 0.3
    assert per_pmt.score < right.components["pmt_distributions"].score - 0.2
    # the energy scale barely moves: one PMT of 128 carries ~1% of the light
    assert dead.components["calorimetry"].metrics["energy_scale"].score > 0.5


def right_names(samples):
    return samples.draw(0).condition_names


def test_report_holds_every_raw_distance_floor_and_bad_reference(calibration, samples):
    report = calibration.score(samples.draw(7))
    data = json.loads(json.dumps(report.to_dict()))  # JSON-serialisable as written
    assert set(data["components"]) == set(COMPONENTS)
    assert data["sample_sizes"] == {
        "generated": 600,
        "reference": 600,
        "floor": 600,
        "bad_reference": 600,
    }
    for component in data["components"].values():
        assert component["skipped"] is None
        for metric in component["metrics"].values():
            assert metric["bad"] > metric["floor"] >= 0
            assert 0.0 <= metric["score"] <= 1.0
    expected = normalised(
        report.components["frechet"].metrics["frechet_distance"].raw,
        report.components["frechet"].metrics["frechet_distance"].floor,
        report.components["frechet"].metrics["frechet_distance"].bad,
    )
    assert report.components["frechet"].metrics["frechet_distance"].score == expected
    ran = [c.score for c in report.components.values()]
    assert report.score == pytest.approx(np.mean(ran))


def test_own_data_without_simulator_skips_the_simulator_components(samples):
    """A user's data: unnamed conditions, no PMT positions, no reconstruction."""

    def own(events: EventSet) -> EventSet:
        return EventSet(events.charges, events.conditions, ("c0", "c1", "c2", "c3"))

    subset = np.arange(300)
    reference, floor = own(samples.draw(1).subset(subset)), own(samples.draw(2).subset(subset))
    report = physics_score(own(samples.draw(3).subset(subset)), reference, floor)
    assert "energy condition" in report.components["calorimetry"].skipped
    assert "simulator" in report.components["closure"].skipped
    ran = {name for name, c in report.components.items() if c.skipped is None}
    assert ran == {"pmt_distributions", "classifier", "frechet"}
    assert report.score >= 0.85


def test_normalised_maps_floor_to_1_bad_to_0_and_clips():
    assert normalised(0.1, floor=0.1, bad=0.5) == 1.0
    assert normalised(0.5, floor=0.1, bad=0.5) == 0.0
    assert normalised(0.3, floor=0.1, bad=0.5) == pytest.approx(0.5)
    assert normalised(0.05, floor=0.1, bad=0.5) == 1.0
    assert normalised(0.9, floor=0.1, bad=0.5) == 0.0
    assert normalised(0.2, floor=0.3, bad=0.3) is None


def test_mismatched_pmts_are_refused(samples):
    reference = samples.draw(1)
    with pytest.raises(ValueError, match="other PMTs"):
        calibrate(reference, reference.select_pmts(np.arange(10)))
