"""`python -m benchmarks.objective_agreement outputs/sweeps/<sweep> [n_events]`: do the
validation loss and the sample quality rank a sweep's trials alike?

For every trial folder with best weights it computes the classifier AUC of generated events
(`tuning.objective=sample_auc`'s value) beside the trial's best validation loss, and prints
the Spearman rank correlation of the two over the completed trials. A high correlation means
the cheap objective (val_loss) is enough to search with; a low one means a search should
rank by sample quality (`tuning.objective=sample_auc` or `both`). Writes
`objective_agreement.json` into the sweep folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from diffexp.errors import ConfigError, exit_on_user_error
from diffexp.io_utils import atomic_write_json
from diffexp.names import BEST_WEIGHTS, TRIAL_FILE


def trial_qualities(sweep_dir: Path, n_events: int) -> list[dict]:
    """One row per finished trial that kept best weights: number, state, loss, AUC."""
    from diffexp import runtime

    runtime.import_tensorflow()
    from diffexp.models.loading import load_run
    from diffexp.verification.pipeline import sample_auc

    rows = []
    folders = sorted(sweep_dir.glob("trial_*"), key=lambda p: int(p.name.split("_")[-1]))
    for folder in folders:
        record_path = folder / TRIAL_FILE
        if not (record_path.exists() and (folder / BEST_WEIGHTS).exists()):
            continue
        record = json.loads(record_path.read_text())
        loaded = load_run(folder)
        auc = sample_auc(loaded, n_events=n_events, cache_dir=loaded.cfg.paths.cache_dir)
        row = {
            "trial": record["trial_number"],
            "state": record["state"],
            "best_val_loss": record["results"].get("best_val_loss"),
            "sample_auc": auc,
        }
        rows.append(row)
        print(
            f"trial {row['trial']:>3} {row['state']:<8} val_loss {row['best_val_loss']:.4f} "
            f"AUC {auc:.3f}",
            flush=True,
        )
    return rows


def agreement(rows: list[dict]) -> dict:
    complete = [r for r in rows if r["state"] == "COMPLETE" and r["best_val_loss"] is not None]
    if len(complete) < 3:
        return {"n_complete": len(complete), "spearman": None}
    losses = np.array([r["best_val_loss"] for r in complete])
    aucs = np.array([r["sample_auc"] for r in complete])
    rho = float(spearmanr(losses, aucs).statistic)
    best_by_loss = complete[int(np.argmin(losses))]
    best_by_auc = complete[int(np.argmin(aucs))]
    return {
        "n_complete": len(complete),
        "spearman": rho,
        "best_by_val_loss": {"trial": best_by_loss["trial"], "auc": best_by_loss["sample_auc"]},
        "best_by_sample_auc": {"trial": best_by_auc["trial"], "auc": best_by_auc["sample_auc"]},
    }


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    sweep_dir = Path(argv[0])
    n_events = int(argv[1]) if len(argv) > 1 else 400
    with exit_on_user_error():
        if not sweep_dir.is_dir():
            raise ConfigError(f"{sweep_dir}: no such sweep folder (outputs/sweeps/<sweep>)")
        rows = trial_qualities(sweep_dir, n_events)
    summary = agreement(rows)
    atomic_write_json(sweep_dir / "objective_agreement.json", {"trials": rows, **summary})
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
