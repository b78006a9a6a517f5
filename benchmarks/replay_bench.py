"""`python -m benchmarks.replay_bench [--table FILE] [--plan WORKERS:POLICIES:SEEDS:N ...]`:
replay a learning-curve table under every search policy (`replay_policies.POLICIES`) for
each worker count and seed, and write replay.json, replay.md and the anytime figures.

Figures, per worker count: each policy's time to quality on the simulated clock (median
over seeds, and in how many seeds it got there); the default policy's speed-up over every
other policy as a ratio of medians with a bootstrap 95 % interval over seeds; and each
policy's gain with workers (its median time at 1 worker over its median time at W). The
quality bar is the table's best validation loss plus 1 %, as the measured bench's bar is the
best any peer reached plus 1 %.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks import curve_table, quality, stats
from benchmarks.curve_table import CurveTable
from benchmarks.quality_plot import median_band, plot_bands
from benchmarks.record_curves import DATA_DIR, search_distributions
from benchmarks.replay import replay
from benchmarks.replay_policies import DEFAULT_POLICY, PEER_POLICIES, POLICIES, Policy
from benchmarks.replay_promotion import replay_promotion
from benchmarks.replay_syne_tune import replay_syne_tune
from diffexp.errors import ConfigError, UserError, report_user_error

BOOTSTRAP_SAMPLES = 2000


def n_trials_for(workers: int, min_trials: int, trials_per_worker: int) -> int:
    """A study's trial budget: phase 1's 20, or enough for every worker to run a few."""
    return max(min_trials, trials_per_worker * workers)


def replay_policy(
    table: CurveTable, policy: Policy, distributions: dict, workers: int, n_trials: int, seed: int
):
    slots = 1 if policy.sequential else workers
    if policy.syne_tune is not None:
        return replay_syne_tune(
            table, policy.syne_tune, distributions, slots, n_trials, seed, policy.overheads
        )
    if policy.promotion is not None:
        return replay_promotion(
            table,
            policy.make_sampler(seed),
            distributions,
            slots,
            n_trials * table.epochs,  # the epochs of n_trials full trials: see replay_promotion
            policy.promotion,
            policy.overheads,
            study_name=f"replay-{policy.name}-{workers}-seed{seed}",
        )
    return replay(
        table,
        policy.make_sampler(seed),
        policy.make_pruner(),
        distributions,
        slots,
        n_trials,
        synchronous=policy.synchronous,
        overheads=policy.overheads,
        study_name=f"replay-{policy.name}-{workers}-seed{seed}",
    )


def table_bar(table: CurveTable, tolerance: float = quality.DEFAULT_TOLERANCE) -> float:
    """The table's best completed validation loss plus `tolerance` of it."""
    return quality.quality_bar(
        (min(c.val_loss) for c in table.curves if c.val_loss and not c.failed), tolerance
    )


def fastest_possible_seconds(table: CurveTable, bar: float) -> float:
    """A time to the bar no policy can beat on this table: a fresh worker that runs, as its
    first trial, the configuration that completes at or below `bar` soonest (start-up, compile
    and every epoch; a trial counts when it completes, as in `quality.time_to_quality`).
    Faster than that only a table with cheaper trials is; inf if no curve meets the bar."""
    times = [
        table.fresh_worker_seconds
        + curve.startup_seconds
        + curve.compile_seconds
        + sum(curve.epoch_seconds[:epochs])
        for curve in table.curves
        for epochs in [min(table.epochs, len(curve.val_loss))]
        if epochs
        and all(math.isfinite(v) for v in curve.val_loss[:epochs])
        and not (curve.failed and len(curve.val_loss) < table.epochs)
        and min(curve.val_loss[:epochs]) <= bar
    ]
    return min(times, default=math.inf)


def ratio_of_medians(slower: list[float], faster: list[float]) -> float:
    a, b = statistics.median(slower), statistics.median(faster)
    if math.isinf(a) and math.isinf(b):
        return math.nan
    return a / b if b > 0 else math.inf


def bootstrap_interval(slower: list[float], faster: list[float], seed: int = 0) -> list[float]:
    """95 % interval of `ratio_of_medians`, resampling each side's seeds with replacement;
    nan when the ratio is undefined (both medians "never") in half the resamples or more: an
    interval from the few that are defined would claim a precision the seeds do not have."""
    rng = np.random.default_rng(seed)
    a, b = np.array(slower), np.array(faster)
    draws = []
    for _ in range(BOOTSTRAP_SAMPLES):
        ra = float(np.median(rng.choice(a, len(a))))
        rb = float(np.median(rng.choice(b, len(b))))
        draws.append(math.inf if (math.isinf(ra) and not math.isinf(rb)) else ra / rb)
    finite = [d for d in draws if not math.isnan(d)]
    if len(finite) < len(draws) / 2:
        return [math.nan, math.nan]
    # "nearest": no interpolation, so an interval reaching "never" stays inf instead of nan
    low, high = np.percentile(finite, [2.5, 97.5], method="nearest") if finite else (math.nan,) * 2
    return [float(low), float(high)]


@dataclass(frozen=True)
class PlanStep:
    """Which policies to replay at which worker counts, with how many seeds and trials."""

    workers: tuple[int, ...]
    policies: tuple[str, ...]
    seeds: int
    trials_per_worker: int


def parse_plan(text: str) -> PlanStep:
    """`WORKERS:POLICIES:SEEDS:TRIALS_PER_WORKER`, lists comma-separated, `all` = every policy
    whose sampler can run here (GP needs PyTorch); ConfigError naming the step if it is not
    that, or if it names a policy whose sampler cannot run."""
    try:
        workers, policies, seeds, per_worker = text.split(":")
        names = (
            tuple(n for n, p in POLICIES.items() if not p.missing_modules())
            if policies == "all"
            else tuple(policies.split(","))
        )
        step = PlanStep(
            tuple(int(w) for w in workers.split(",")), names, int(seeds), int(per_worker)
        )
    except ValueError as error:
        raise ConfigError(
            f"--plan {text!r}: write WORKERS:POLICIES:SEEDS:TRIALS_PER_WORKER, e.g. 1,2:all:50:2"
        ) from error
    unknown = [name for name in step.policies if name not in POLICIES]
    if unknown:
        raise ConfigError(f"--plan {text!r}: unknown {unknown}; use any of {', '.join(POLICIES)}")
    for name in step.policies:
        if missing := POLICIES[name].missing_modules():
            raise ConfigError(
                f"--plan {text!r}: policy {name} needs {', '.join(missing)}, which is not "
                f"installed: run `{POLICIES[name].install_hint()}`"
            )
    return step


def run_grid(
    table: CurveTable,
    distributions: dict,
    plan: list[PlanStep],
    min_trials: int,
    tolerance: float = quality.DEFAULT_TOLERANCE,
) -> dict:
    """Every plan step's policy x worker count x seed: times to the bar and the timelines."""
    bar = table_bar(table, tolerance)
    results: dict = {}
    for step in plan:
        for workers in step.workers:
            body = results.setdefault(workers, {"n_trials": {}, "policies": {}})
            for name in step.policies:
                policy = POLICIES[name]
                slots = 1 if policy.sequential else workers
                n_trials = n_trials_for(slots, min_trials, step.trials_per_worker)
                body["n_trials"][name] = n_trials
                body["policies"][name] = _replay_seeds(
                    table, policy, distributions, workers, n_trials, step.seeds, bar
                )
    return {
        "bar": bar,
        "fastest_possible_seconds": fastest_possible_seconds(table, bar),
        "by_workers": results,
    }


def _replay_seeds(table, policy, distributions, workers, n_trials, seeds, bar) -> dict:
    started = time.perf_counter()
    runs = [
        replay_policy(table, policy, distributions, workers, n_trials, seed)
        for seed in range(seeds)
    ]
    times = [quality.time_to_quality(r.timeline, bar) for r in runs]
    result = {
        "time_to_quality": [math.inf if t is None else t for t in times],
        "timelines": [r.timeline for r in runs],
        "wall_seconds": [r.wall_seconds for r in runs],
        "pruned_share": statistics.mean(
            sum(s.state == "PRUNED" for s in r.spans) / len(r.spans) for r in runs
        ),
        "replay_seconds": round(time.perf_counter() - started, 2),
    }
    median = statistics.median(result["time_to_quality"])
    print(f"workers {workers} {policy.name}: median time to bar {median:.0f} s", flush=True)
    return result


def summarise(grid: dict) -> dict:
    """Medians, reach counts, speed-ups of the default with intervals, and gain with workers."""
    summary: dict = {}
    for workers, body in grid["by_workers"].items():
        ours = body["policies"].get(DEFAULT_POLICY)
        rows = {}
        for name, result in body["policies"].items():
            times = result["time_to_quality"]
            row = {
                "median_time_to_quality": statistics.median(times),
                "reached": sum(math.isfinite(t) for t in times),
                "seeds": len(times),
                "pruned_share": result["pruned_share"],
            }
            base = grid["by_workers"][min(grid["by_workers"])]["policies"].get(name)
            if base is not None:
                row["gain_vs_fewest_workers"] = ratio_of_medians(base["time_to_quality"], times)
            if ours is not None and name != DEFAULT_POLICY:
                row["default_speedup"] = ratio_of_medians(times, ours["time_to_quality"])
                row["default_speedup_95"] = bootstrap_interval(times, ours["time_to_quality"])
            rows[name] = row
        summary[workers] = rows
    return summary


def targets(summary: dict, fastest: float = 0.0) -> dict:
    """The issue's replay targets: >= 1.5x the best peer at 2 workers, >= 3x the official
    synchronous batches at 64 workers. Each verdict also says the most any policy could be
    faster than that peer: the peer's median over `fastest_possible_seconds` (the ceiling)."""
    verdicts = {}
    if 2 in summary:
        peers = {p: summary[2][p]["default_speedup"] for p in PEER_POLICIES if p in summary[2]}
        # nan (neither got there in most seeds) sorts last: a peer that did is the best one
        best_peer = min(peers, key=lambda p: (math.isnan(peers[p]), peers[p])) if peers else None
        if best_peer:
            verdicts["vs_best_peer_at_2_workers"] = _verdict(
                peers[best_peer], 1.5, best_peer, summary[2][best_peer], fastest
            )
    if 64 in summary and "official_batches" in summary[64]:
        row = summary[64]["official_batches"]
        verdicts["vs_official_batches_at_64_workers"] = _verdict(
            row["default_speedup"], 3.0, "official_batches", row, fastest
        )
    return verdicts


def beats_default(summary: dict) -> list[dict]:
    """Policies that reach the bar sooner than the default by more than the bootstrap noise:
    the default's speed-up over them, with its whole 95 % interval, is below 1."""
    found = []
    for workers, rows in summary.items():
        for name, row in rows.items():
            interval = row.get("default_speedup_95")
            if interval is not None and interval[1] < 1.0:
                found.append(
                    {
                        "workers": workers,
                        "policy": name,
                        "speedup": row["default_speedup"],
                        "ci": interval,
                    }
                )
    return found


def _verdict(value: float, target: float, against: str, peer: dict, fastest: float) -> dict:
    peer_median = peer.get("median_time_to_quality", math.nan)
    ceiling = peer_median / fastest if fastest > 0 else math.nan
    return {
        "value": value,
        "target": target,
        "against": against,
        "pass": bool(value >= target),
        "ceiling": ceiling,  # the most any policy could be faster than this peer
        "reachable": bool(ceiling >= target) if math.isfinite(ceiling) else None,
    }


def markdown(meta: dict, grid: dict, summary: dict, verdicts: dict) -> str:
    lines = [
        f"Replay of {meta['table']} ({meta['n_curves']} curves, profile {meta['profile']}), "
        f"bar {grid['bar']:.4f} (table best + {100 * meta.get('bar_tolerance', 0.01):g} %); "
        f"plan {' '.join(meta['plan'])}. No policy can reach the bar before "
        f"{grid.get('fastest_possible_seconds', math.nan):.1f} s (a fresh worker whose first "
        "trial is the quickest configuration that meets it).",
        "",
        "| workers | policy | trials | median time to bar (s) | reached | pruned | "
        "default's speed-up (95 % CI) | gain vs 1 worker |",
        "|---:|---|---:|---:|---:|---:|---|---:|",
    ]
    for workers, rows in summary.items():
        for name, row in rows.items():
            n_trials = grid["by_workers"][workers]["n_trials"][name]
            speedup = row.get("default_speedup")
            interval = row.get("default_speedup_95", [math.nan, math.nan])
            if speedup is None:
                cell = "—"
            elif math.isnan(speedup):
                cell = "undefined (neither reached the bar in most seeds)"
            else:
                cell = f"{speedup:.2f} ({interval[0]:.2f}–{interval[1]:.2f})"
            lines.append(
                f"| {workers} | {name} | {n_trials} | {row['median_time_to_quality']:.0f} | "
                f"{row['reached']}/{row['seeds']} | {row['pruned_share']:.2f} | {cell} | "
                f"{row.get('gain_vs_fewest_workers', math.nan):.2f} |"
            )
    lines.append("")
    winners = beats_default(summary)
    lines.append(
        "- policies faster than the default beyond the 95 % interval: "
        + (
            "; ".join(
                f"{w['policy']} at {w['workers']} workers (default's speed-up {w['speedup']:.2f}, "
                f"{w['ci'][0]:.2f}-{w['ci'][1]:.2f})"
                for w in winners
            )
            or "none"
        )
    )
    for key, verdict in verdicts.items():
        state = "PASS" if verdict["pass"] else "MISSED"
        value = (
            "undefined (neither reached the bar in more than half the seeds)"
            if math.isnan(verdict["value"])
            else f"{verdict['value']:.2f}x"
        )
        ceiling = verdict.get("ceiling", math.nan)
        bound = (
            ""
            if not math.isfinite(ceiling)
            else f"; the most any policy could reach is {ceiling:.2f}x"
            + ("" if verdict["reachable"] else ", so no policy can meet it on this table")
        )
        lines.append(
            f"- {key}: {value} vs {verdict['against']} "
            f"(target {verdict['target']}x): **{state}**{bound}"
        )
    return "\n".join(lines) + "\n"


def plot_anytime(grid: dict, workers: int, path: Path, names: tuple[str, ...] = ()) -> Path:
    """Median best-so-far with quartile bands of `names` (all policies if empty)."""
    body = grid["by_workers"][workers]["policies"]
    chosen = {n: r for n, r in body.items() if not names or n in names}
    end = max(max(r["wall_seconds"]) for r in chosen.values())
    times = np.geomspace(1.0, end, 400)
    bands = {name: median_band(r["timelines"], times) for name, r in chosen.items()}
    title = f"Replay, {workers} worker(s): median best-so-far over seeds, band: quartiles"
    return plot_bands(bands, grid["bar"], path, title, "simulated seconds", log_x=True)


def plot_gain(summary: dict, path: Path) -> Path:
    """Each policy's median time to the bar at 1 worker over its median at W, against W."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    names = list(dict.fromkeys(n for rows in summary.values() for n in rows))
    for index, name in enumerate(names):
        points = [
            (w, rows[name]["gain_vs_fewest_workers"])
            for w, rows in sorted(summary.items())
            if name in rows and math.isfinite(rows[name].get("gain_vs_fewest_workers", math.nan))
        ]
        if points:
            ax.plot(*zip(*points, strict=True), "o-", color=f"C{index % 10}", label=name)
    ax.set(xscale="log", yscale="log", xlabel="workers", ylabel="time-to-bar gain vs 1 worker")
    ax.set_title("Replay: how each policy's time to quality scales with workers")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # no policy may have a finite gain (smoke sizes)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def write(out_dir: Path, meta: dict, grid: dict) -> dict:
    summary = summarise(grid)
    verdicts = targets(summary, grid.get("fastest_possible_seconds", 0.0))
    out_dir.mkdir(parents=True, exist_ok=True)
    for workers in grid["by_workers"]:
        plot_anytime(grid, workers, out_dir / f"anytime_{workers}_workers_all.png")
        peers = (*PEER_POLICIES, DEFAULT_POLICY)
        plot_anytime(grid, workers, out_dir / f"anytime_{workers}_workers.png", peers)
    plot_gain(summary, out_dir / "gain_vs_workers.png")
    slim = {
        w: {
            "n_trials": b["n_trials"],
            "policies": {
                n: {k: v for k, v in r.items() if k != "timelines"}
                for n, r in b["policies"].items()
            },
        }
        for w, b in grid["by_workers"].items()
    }
    payload = {
        **meta,
        "bar": grid["bar"],
        "fastest_possible_seconds": grid.get("fastest_possible_seconds"),
        "summary": summary,
        "targets": verdicts,
        "beats_default": beats_default(summary),
        "runs": slim,
    }
    (out_dir / "replay.json").write_text(json.dumps(payload, indent=1, default=float) + "\n")
    (out_dir / "replay.md").write_text(markdown(meta, grid, summary, verdicts))
    return payload


def replay_table(
    table_path: Path,
    plan_lines: list[str],
    min_trials: int,
    tolerance: float = quality.DEFAULT_TOLERANCE,
) -> tuple[dict, dict]:
    """Load a table, replay its plan; (meta, grid). UserError for a bad table or plan."""
    table = curve_table.load(table_path)
    distributions = search_distributions(str(table.meta["search"]))
    plan = [parse_plan(text) for text in plan_lines]
    started = time.perf_counter()
    grid = run_grid(table, distributions, plan, min_trials, tolerance)
    meta = {
        "table": str(table_path),
        "n_curves": len(table.curves),
        "profile": table.meta.get("profile"),
        "table_overrides": table.meta.get("overrides"),
        "plan": list(plan_lines),
        "min_trials": min_trials,
        "bar_tolerance": tolerance,
        "replay_seconds": round(time.perf_counter() - started, 1),
    }
    return meta, grid


def run(ctx) -> dict:
    """The bench section: replay the size's table and plan into <work_dir>/replay/."""
    size = ctx.size
    meta, grid = replay_table(
        DATA_DIR / str(size.replay_table), list(size.replay_plan), int(size.replay_min_trials)
    )
    payload = write(ctx.work_dir / "replay", meta, grid)
    figures = {  # nan: neither policy reached the bar in most seeds; the target is then n/a
        key: stats.figure([verdict["value"]], "x", "simulated")
        for key, verdict in payload["targets"].items()
        if not math.isnan(verdict["value"])
    }
    note = (
        f"replayed {meta['n_curves']} recorded curves ({meta['profile']}); "
        f"plan {' '.join(meta['plan'])}"
    )
    details = {
        **meta,
        "note": note,
        "summary": payload["summary"],
        "folder": str(ctx.work_dir / "replay"),
    }
    return {"figures": figures, "details": details}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from benchmarks.config import compose_bench

    size = compose_bench([]).size  # the defaults: conf/bench.yaml, sizes.default.replay_*
    parser.add_argument("--table", type=Path, default=DATA_DIR / str(size.replay_table))
    parser.add_argument(
        "--plan",
        nargs="+",
        default=list(size.replay_plan),
        help="WORKERS:POLICIES:SEEDS:TRIALS_PER_WORKER steps (default: %(default)s)",
    )
    parser.add_argument("--min-trials", type=int, default=int(size.replay_min_trials))
    parser.add_argument(
        "--tolerance",
        type=float,
        default=quality.DEFAULT_TOLERANCE,
        help="quality bar: the table's best loss plus this share of it (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="default: outputs/bench/replay/<time>"
    )
    args = parser.parse_args(argv)
    try:
        meta, grid = replay_table(args.table, args.plan, args.min_trials, args.tolerance)
    except UserError as error:
        return report_user_error(error)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out_dir = args.out or Path("outputs") / "bench" / "replay" / stamp
    payload = write(out_dir, meta, grid)
    print(markdown(meta, grid, payload["summary"], payload["targets"]))
    print(f"written: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
