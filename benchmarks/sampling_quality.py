"""`python -m benchmarks.sampling_quality RUN [--steps 50 100 200 400] [--etas 0.3 0.6 0.8 1]
[--ddpm] [--events 4000] [--seed 777] [--out DIR]`: verify's headline classifier AUC of a
trained run for each DDIM (steps, eta), against the generation time per event, so a user can
choose the sampler (issue 23's "quality against cost").

Each setting generates `--events` events for verify's conditions and seed and scores them with
verify's classifier, inputs and readout (`diffexp.verification.pipeline.sample_quality`), so
the row of the setting verify uses equals its `classifier_auc`. Results go to
`<out>/sampling_quality.json` after each setting (running the command again skips the settings
already there) and `<out>/auc_vs_sampling_cost.png`, AUC against the steps (the generation
time is proportional to them; the measured ms per event are in the JSON, comparable only
within one run on an idle machine). Minutes per setting on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from diffexp.io_utils import atomic_write_text

RESULTS = "sampling_quality.json"
FIGURE = "auc_vs_sampling_cost.png"


def setting_key(sampler: str, steps: int, eta: float) -> str:
    return "ddpm" if sampler == "ddpm" else f"ddim steps={steps} eta={eta:g}"


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """AUC against the network evaluations per event (the steps), one line per eta: the
    generation time is proportional to them, and unlike a wall time on a shared machine
    they do not move with the load. A bare Figure (no pyplot state), as the project's other
    plots are drawn."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    etas = sorted({row["eta"] for row in rows if row["sampler"] == "ddim"})
    for eta in etas:
        line = sorted(
            (r for r in rows if r["sampler"] == "ddim" and r["eta"] == eta),
            key=lambda r: r["steps"],
        )
        steps = [r["steps"] for r in line]
        ax.plot(steps, [r["auc"] for r in line], marker="o", label=f"DDIM, eta {eta:g}")
    for r in (r for r in rows if r["sampler"] == "ddpm"):
        ax.plot(
            [r["steps"]],
            [r["auc"]],
            marker="s",
            color="black",
            linestyle="",
            label=f"DDPM (the whole chain, {r['steps']} steps)",
        )
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ticks = sorted({row["steps"] for row in rows})
    ax.set_xticks(ticks, [str(tick) for tick in ticks])
    ax.minorticks_off()
    ax.set_xlabel("sampling steps = network evaluations per event (log scale)")
    ax.set_ylabel("classifier AUC (0.5: indistinguishable)")
    ax.set_title("quality against sampling cost")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a trained run folder (outputs/runs/<run>)")
    parser.add_argument("--steps", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--etas", type=float, nargs="+", default=[0.3, 0.6, 0.8, 1.0])
    parser.add_argument("--ddpm", action="store_true", help="also the full DDPM chain")
    parser.add_argument("--events", type=int, default=4000, help="events a class (verify's)")
    parser.add_argument("--seed", type=int, default=777, help="verify's seed")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: the run's)")
    parser.add_argument("--cache-dir", default="outputs/data_cache")
    args = parser.parse_args(argv)

    from diffexp.errors import UserError
    from diffexp.models.loading import load_run
    from diffexp.verification.pipeline import sample_quality

    out = args.out or args.run
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS
    rows: list[dict[str, Any]] = (
        json.loads(results_path.read_text())["rows"] if results_path.exists() else []
    )
    done = {row["setting"] for row in rows}
    settings = [("ddim", s, e) for e in args.etas for s in args.steps]
    if args.ddpm:
        settings.append(("ddpm", 0, 1.0))
    try:
        loaded = load_run(args.run)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for number, (sampler, steps, eta) in enumerate(settings, start=1):
        key = setting_key(sampler, steps, eta)
        if key in done:
            continue
        quality = sample_quality(
            loaded, args.events, sampler, steps, eta, args.seed, args.cache_dir
        )
        row = {
            "setting": key,
            "sampler": sampler,
            "steps": steps if sampler == "ddim" else int(loaded.schedule.n_steps),
            "eta": eta,
            "auc": quality.auc,
            "auc_std": quality.auc_std,
            "ms_per_event": 1000.0 * quality.generation_seconds / quality.events,
        }
        rows.append(row)
        record = {"run": str(args.run), "events": args.events, "seed": args.seed, "rows": rows}
        atomic_write_text(results_path, json.dumps(record, indent=2) + "\n")
        print(
            f"[{number}/{len(settings)}] {key}: AUC {quality.auc:.3f} ± {quality.auc_std:.3f}, "
            f"{row['ms_per_event']:.1f} ms/event",
            flush=True,
        )
    print(f"wrote {results_path} and {plot(rows, out / FIGURE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
