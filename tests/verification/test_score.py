"""The physics score's scale: fresh noise scores ~1, shuffled physics ~0, and a wrong
generator loses on the component that measures what is wrong (the whole panel of known
generators is in test_calibration_panel.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffexp.data import EventSet
from diffexp.verification.score import (
    COMPONENTS,
    DIAGNOSTIC_COMPONENTS,
    PHYSICS_COMPONENTS,
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
    assert per_pmt.metrics["pmt_charge_bias"].score < 0.3
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
        "training": 4500,
    }
    assert (
        data["classifier_auc"]
        == data["components"]["classifier"]["metrics"]["classifier_auc"]["raw"]
    )
    assert "chi2_per_pmt" in data["single_feature_aucs"]
    for component in data["components"].values():
        assert component["skipped"] is None
        for metric in component["metrics"].values():
            assert set(metric) == {"raw", "floor", "floor_noise", "bad", "score"}
            assert metric["floor"] >= 0 and metric["floor_noise"] >= 0
            assert 0.0 <= metric["score"] <= 1.0
    frechet = report.components["frechet"].metrics["frechet_distance"]
    margin = calibration.context.settings.floor_noise_sigmas * frechet.floor_noise
    assert frechet.score == normalised(frechet.raw, frechet.floor, frechet.bad, 0.0, margin)
    memorisation = report.components["memorisation"].score
    # the score is the classifier's, the other components diagnose
    assert report.score == pytest.approx(report.components["classifier"].score * memorisation)
    assert set(PHYSICS_COMPONENTS) - set(DIAGNOSTIC_COMPONENTS) == {"classifier"}
    assert len(data["classifier_aucs"]) == calibration.context.settings.classifier_repeats
    assert data["classifier_auc"] == pytest.approx(np.mean(data["classifier_aucs"]))
    assert data["classifier_auc_std"] == pytest.approx(np.std(data["classifier_aucs"], ddof=1))
    assert data["classifier_floor_auc"] == calibration.floor["classifier"]["classifier_auc"]
    assert report.headline() == (
        f"physics score {report.score:.2f} (classifier AUC {report.classifier_auc:.2f} "
        f"± {report.classifier_auc_std:.2f}, floor {report.classifier_floor_auc:.2f})"
    )


def test_own_data_without_simulator_skips_the_simulator_components(samples):
    """A user's data: unnamed conditions, no PMT positions, no reconstruction."""

    def own(events: EventSet) -> EventSet:
        return EventSet(events.charges, events.conditions, ("c0", "c1", "c2", "c3"))

    subset = np.arange(300)
    reference, floor = own(samples.draw(1).subset(subset)), own(samples.draw(2).subset(subset))
    report = physics_score(own(samples.draw(3).subset(subset)), reference, floor)
    assert "energy condition" in report.components["calorimetry"].skipped
    assert "simulator" in report.components["closure"].skipped
    assert "training events" in report.components["memorisation"].skipped
    ran = {name for name, c in report.components.items() if c.skipped is None}
    assert ran == {"pmt_distributions", "classifier", "frechet"}
    assert report.score >= 0.85


def test_normalised_is_logarithmic_between_floor_and_bad():
    assert normalised(0.1, floor=0.1, bad=1.0) == 1.0
    assert normalised(1.0, floor=0.1, bad=1.0) == pytest.approx(0.0)
    assert normalised(np.sqrt(0.1), floor=0.1, bad=1.0) == pytest.approx(0.5)  # geometric mean
    assert normalised(0.05, floor=0.1, bad=1.0) == 1.0
    assert normalised(9.0, floor=0.1, bad=1.0) == 0.0
    # ten times the floor never scores 0.99 (the old linear scale gave 0.996 at 236x)
    assert normalised(10.0, floor=1.0, bad=236.0) < 0.6


def test_normalised_floor_margin_origin_and_unresolved_bad():
    # the noise margin lifts the floor: a fresh sample a little above it still scores 1
    assert normalised(0.12, floor=0.1, bad=1.0, floor_margin=0.03) == 1.0
    # AUC counts from 0.5
    assert normalised(0.5 + 0.04, floor=0.52, bad=0.82, origin=0.5) == pytest.approx(
        1 - np.log(2) / np.log(16)
    )
    # a bad reference inside the floor's noise: zero at twice the floor
    assert normalised(0.2, floor=0.1, bad=0.1) == pytest.approx(0.0)
    assert normalised(0.1 * np.sqrt(2), floor=0.1, bad=0.05) == pytest.approx(0.5)


def test_mismatched_pmts_are_refused(samples):
    reference = samples.draw(1)
    with pytest.raises(ValueError, match="other PMTs"):
        calibrate(reference, reference.select_pmts(np.arange(10)))
