"""Section 6: the tuning comparison (sequential without pruning, the official batched sweeper,
diffexp's asynchronous pruning sweeper) over several sweeper seeds. The sweeps themselves are
run by diffexp.tuning.bench_tuning.compare_sweeps (the sweeper's own module); this section
repeats it per seed and summarises. Where that module is missing it says so plainly."""

from __future__ import annotations

import importlib

from diffexp.bench import stats
from diffexp.bench.context import BenchContext

MODULE = "diffexp.tuning.bench_tuning"
MODES = ("sequential", "batched", "diffexp")


def run(ctx: BenchContext) -> dict:
    try:
        module = importlib.import_module(MODULE)
    except ModuleNotFoundError as error:
        if error.name != MODULE:
            raise
        return {"available": False, "reason": f"{MODULE} does not exist yet", "figures": {}}
    compare = getattr(module, "compare_sweeps", None)
    if compare is None:
        return {"available": False, "reason": f"{MODULE} has no compare_sweeps()", "figures": {}}
    size = ctx.size
    per_seed = []
    for index in range(int(size.tuning_seeds)):
        seed = ctx.seed + index
        per_seed.append(
            compare(
                ctx.work_dir / "tuning" / f"seed_{seed}",
                n_trials=int(size.tuning_trials),
                extra_overrides=(f"seed={seed}", *size.tuning_overrides),
                launcher=dict(size.tuning_launchers),
                profile=str(size.tuning_profile),
            )
        )
    return {"available": True, "figures": summarise(per_seed), "details": {"runs": per_seed}}


def summarise(per_seed: list[dict]) -> dict:
    """Median, min and max over seeds of the ratios, best values and idle slot fractions."""
    figures = {
        "speedup_vs_sequential": stats.figure(
            [r["speedup_diffexp_vs_sequential"] for r in per_seed], "x", "CPU"
        ),
        "speedup_vs_batched": stats.figure(
            [r["speedup_diffexp_vs_batched"] for r in per_seed], "x", "CPU"
        ),
    }
    for mode in MODES:
        figures[f"{mode}_wall_seconds"] = stats.figure(
            [r[mode]["wall_seconds"] for r in per_seed], "s", "CPU"
        )
        best = [r[mode]["best_value"] for r in per_seed if r[mode]["best_value"] is not None]
        if best:
            figures[f"{mode}_best_value"] = stats.figure(best, "loss", "CPU")
        figures[f"{mode}_idle_slot_fraction"] = stats.figure(
            [r[mode]["idle_slot_fraction"] for r in per_seed], "fraction", "CPU"
        )
    shares = [
        r["diffexp"]["trial_outside_training_share"]
        for r in per_seed
        if r["diffexp"].get("trial_outside_training_share") is not None
    ]
    if shares:  # a trial in a warm pool worker: no process start or imports of its own
        figures["diffexp_trial_outside_training_share"] = stats.figure(shares, "fraction", "CPU")
    figures["diffexp_pruned_trials"] = stats.figure(
        [r["diffexp"]["pruned"] for r in per_seed], "trials", "CPU"
    )
    return figures
