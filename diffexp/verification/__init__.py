"""Physics verification of a trained model and PMT selection.

report = physics_score(generated, reference, floor, pmt_positions, reconstruction,
                       settings, simulator, training)
report.score, report.classifier_auc, report.headline()
# "physics score 0.62 (classifier AUC 0.81 ± 0.01, floor 0.50)"
calibration = calibrate(reference, floor, ...); calibration.score(generated)  # many candidates
auc = classifier_auc(generated, reference, pmt_positions, simulator)  # the headline alone
result = select_pmts(simulator, n_events, k_values, n_random, seed)

The run-level pipeline (generation, plots, verification.json) is
`diffexp.verification.pipeline.verify_run`, behind `python -m diffexp.verify`;
`diffexp.verification.pipeline.sample_auc(loaded_run)` gives a trained run's headline AUC alone.
"""

from diffexp.verification.classifier import ClassifierSettings, classifier_auc
from diffexp.verification.metrics import MetricSettings
from diffexp.verification.reconstruction import (
    Reconstruction,
    fit_reconstruction,
    load_or_fit_reconstruction,
)
from diffexp.verification.score import (
    COMPONENTS,
    Calibration,
    ScoreReport,
    calibrate,
    physics_score,
    shuffled_conditions,
)
from diffexp.verification.selection import SelectionResult, select_pmts

__all__ = [
    "COMPONENTS",
    "Calibration",
    "ClassifierSettings",
    "MetricSettings",
    "Reconstruction",
    "ScoreReport",
    "SelectionResult",
    "calibrate",
    "classifier_auc",
    "fit_reconstruction",
    "load_or_fit_reconstruction",
    "physics_score",
    "select_pmts",
    "shuffled_conditions",
]
