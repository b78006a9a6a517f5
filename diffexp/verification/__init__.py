"""Physics verification of a trained model and PMT selection.

report = physics_score(generated, reference, floor, pmt_positions, reconstruction)
calibration = calibrate(reference, floor, ...); calibration.score(generated)  # many candidates
result = select_pmts(simulator, n_events, k_values, n_random, seed)

The run-level pipeline (generation, plots, verification.json) is
`diffexp.verification.pipeline.verify_run`, behind `python -m diffexp.verify`.
"""

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
    "MetricSettings",
    "Reconstruction",
    "ScoreReport",
    "SelectionResult",
    "calibrate",
    "fit_reconstruction",
    "load_or_fit_reconstruction",
    "physics_score",
    "select_pmts",
    "shuffled_conditions",
]
