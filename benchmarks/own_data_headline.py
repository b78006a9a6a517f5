"""`python -m benchmarks.own_data_headline [--seeds 1 2 3] [--out outputs/own]`: the verify
headline a physicist's own file gets, against the built-in detector's, at the demo's phase-2
budget (issue 20's targets).

The built-in simulation's events are exported once to `.npz`, with the detector's geometry
and without it, exactly as a user would hand them over. Each seed trains three runs
(`trainer=refine profile=default`, default model settings, 20% held out so verification has
2,000 events per sample) and verifies each with `python -m diffexp.verify`:

- built-in simulator, `model.prior=expectation`;
- the `.npz` with geometry, `model.prior=learned`;
- the `.npz` without geometry, `model.prior=learned` (the light model sees the conditions alone).

Prints and writes (`<out>/own_data_headline.json`) each run's classifier AUC, floor and score,
and the mean ± std over seeds per row. Numbers, not a test; minutes per run on 2 cores."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

N_EVENTS = 20000
EXPORT_SEED = 7
COMMON = ["trainer=refine", "profile=default", "data.val_fraction=0.2"]
# The physicist knows the detector's roles of the conditions and its single-PE resolution
# (the built-in detector's readout is on by default; without these the rows would differ).
OWN_DATA = [
    "data.vertex_conditions=[x_m,y_m,z_m]",
    "data.energy_condition=energy_mev",
    "data.readout.resolve_pe_below=5",
    "data.readout.spe_resolution=0.3",
]


def export_default_simulation(folder: Path, n_events: int = N_EVENTS) -> tuple[Path, Path]:
    """The default detector's events as `.npz` files: with its geometry, without."""
    from diffexp.data import simulate_events, simulator_from_config
    from diffexp.verification.calibration_panel import default_data_config

    data_cfg = default_data_config()
    events = simulate_events(data_cfg, n_events, EXPORT_SEED)
    geometry = simulator_from_config(data_cfg).geometry
    arrays = {
        "charges": events.charges,
        "conditions": events.conditions,
        "condition_names": np.array(events.condition_names),
    }
    folder.mkdir(parents=True, exist_ok=True)
    with_geometry, without = folder / "events_geometry.npz", folder / "events.npz"
    np.savez(
        with_geometry,
        **arrays,
        pmt_positions=geometry.positions,
        pmt_directions=geometry.normals,
        pmt_areas=geometry.areas,
    )
    np.savez(without, **arrays)
    return with_geometry, without


def run_rows(with_geometry: Path, without: Path) -> dict[str, list[str]]:
    """Each row's training overrides (the run folder and seed are added per run)."""
    return {
        "built-in simulator, prior=expectation": [
            "data=simulated",
            f"data.n_events={N_EVENTS}",
            "model.prior=expectation",
        ],
        ".npz with geometry, prior=learned": [
            "data=npz",
            f"data.path={with_geometry}",
            *OWN_DATA,
            "model.prior=learned",
        ],
        ".npz without geometry, prior=learned": [
            "data=npz",
            f"data.path={without}",
            *OWN_DATA,
            "model.prior=learned",
        ],
    }


def _python(module: str, *args: str) -> None:
    """Run `python -m module args` as a user would (no shell: paths may hold spaces)."""
    command = [sys.executable, "-m", module, *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")


def train_and_verify(run_dir: Path, overrides: list[str], seed: int) -> dict[str, Any]:
    if not (run_dir / "verification.json").is_file():
        _python("diffexp.train", *overrides, *COMMON, f"seed={seed}", f"hydra.run.dir={run_dir}")
        _python("diffexp.verify", f"run={run_dir}")
    result = json.loads((run_dir / "verification.json").read_text())
    return {
        "seed": seed,
        "classifier_auc": result["classifier_auc"],
        "headline": result["headline"],
        "score": result.get("score"),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    aucs = np.array([run["classifier_auc"] for run in runs], dtype=float)
    return {
        "auc_mean": float(aucs.mean()),
        "auc_std": float(aucs.std(ddof=1)) if len(aucs) > 1 else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds")
    parser.add_argument("--out", type=Path, default=Path("outputs/own"), help="runs go here")
    parser.add_argument("--rows", type=int, nargs="+", default=[0, 1, 2], help="rows to run (0-2)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    rows = run_rows(*export_default_simulation(out / "export"))
    table: dict[str, Any] = {}
    for index, (name, overrides) in enumerate(rows.items()):
        if index not in args.rows:
            continue
        runs = []
        for seed in args.seeds:
            run = train_and_verify(out / f"row{index}_seed{seed}", overrides, seed)
            print(f"{name}, seed {seed}: {run['headline']}", flush=True)
            runs.append(run)
        table[name] = {"runs": runs, **summarise(runs)}
        print(f"{name}: AUC {table[name]['auc_mean']:.3f} ± {table[name]['auc_std']:.3f}")
    (out / "own_data_headline.json").write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
