"""`python -m benchmarks.light_model_accuracy [--events N] [--epochs E] [--seed S]`: how
close the learned light model (diffexp/models/light_model.py) comes to the simulator's
analytic expectation on the default detector, fed the geometry and fed the conditions alone.

Fitted on the training split of N simulated events as a run fits it (90 %), measured on
2,000 fresh conditions: the median over PMTs of each PMT's median |mu - mu_sim| / mu_sim.
Prints a JSON object; numbers, not a test (a test only checks that it runs)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from diffexp.data import simulate_events, simulator_from_config, train_val_split
from diffexp.data.user_geometry import UserGeometry

N_TEST_EVENTS = 2000


def _default_detector() -> dict[str, Any]:
    from diffexp.verification.calibration_panel import default_data_config

    return default_data_config()


def measure(n_events: int, epochs: int, seed: int = 0) -> dict[str, Any]:
    """Fit seconds and relative errors of mu, with and without the geometry."""
    from diffexp.models.light_model import fit_light_model

    data_cfg = _default_detector()
    simulator = simulator_from_config(data_cfg)
    training, _ = train_val_split(simulate_events(data_cfg, n_events, seed), 0.1, seed)
    conditions = simulator.sample_conditions(N_TEST_EVENTS, np.random.default_rng(seed + 1))
    truth = simulator.expected_pe(conditions)
    geo = simulator.geometry
    geometry = UserGeometry(geo.positions, geo.normals, geo.areas, "data.geometry")
    results: dict[str, Any] = {"training_events": training.n_events, "epochs": epochs}
    for name, args in {
        "geometry": (geometry, [0, 1, 2], 3),
        "conditions_only": (None, None, None),
    }.items():
        started = time.perf_counter()
        model = fit_light_model(training, *args, epochs=epochs, seed=seed)
        seconds = time.perf_counter() - started
        relative = np.abs(model.expected_pe(conditions) - truth) / truth
        per_pmt = np.median(relative, axis=0)
        results[name] = {
            "fit_seconds": round(seconds, 1),
            "median_per_pmt_relative_error": float(np.median(per_pmt)),
            "worst_pmt_relative_error": float(per_pmt.max()),
            "variance_factor": model.variance_factor,
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.light_model_accuracy", description=__doc__
    )
    parser.add_argument("--events", type=int, default=20000, help="simulated events (90% fit)")
    parser.add_argument("--epochs", type=int, default=30, help="passes of the fit")
    parser.add_argument("--seed", type=int, default=0, help="simulation and fit")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.events, args.epochs, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
