"""`python -m benchmarks.timeline_check record OUT [override ...] [--trials N] [--seed S]` and
`python -m benchmarks.timeline_check compare FILE`: check the replay simulator against one real
2-worker sweep's recorded timeline.

`record` runs a small real phase-1 sweep on 2 pool workers and writes its timeline
(`benchmarks.sweep_timeline`) to OUT. `compare` builds the curve table of that sweep's own
trials from the timeline and replays the same policy (TPE with the sweep's recorded settings and
seed, the median pruner of `conf/hydra/sweeper/pruner/median.yaml`) on 2 slots, then lines up
each trial's params, state, whether it compiled, and its start, and the study's end, real
against replayed.

The table from a timeline, per trial: its params, its validation losses, its epochs' seconds
(the cumulative training seconds differenced, the first epoch's excess taken out as the
compile), its compile (one per shape, as a recorded table has it: the median of the compiles
its shape cost in the workers that compiled it), and its start-up (everything from its ask
to its tell that is not an epoch or a compile, which includes the launcher's hand-over to the
worker). A
worker's first job also pays the worker's own start (TensorFlow's import, the data): its
excess start-up over the median later job is the table's fresh-worker seconds (the median of
the workers'), which the replay charges once per worker before its first trial. So the
replay gets each trial's real costs; what it adds is the schedule (which slot runs what when,
which trials the sampler proposes and the pruner stops, which trials compile), and what it
leaves out is the sweeper's time between a tell and the next ask.

Start times: the replay starts a slot's first trial after its worker's start-up; the sweeper
asks it first and the worker starts inside it. So a slot's first trial is compared from the
moment its worker starts (0 in both); every later trial from its ask.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks import curve_table, epochs
from benchmarks.curve_table import CurveTable
from benchmarks.record_curves import search_distributions
from benchmarks.replay import ReplayRun, replay
from benchmarks.replay_policies import DEFAULT_POLICY, POLICIES
from diffexp.errors import UserError, report_user_error

WORKERS = 2


def table_from_timeline(timeline: dict[str, Any]) -> CurveTable:
    """The curve table of the sweep's own trials (see the module docstring)."""
    trials = [t for t in timeline["trials"] if t["training_seconds"]]
    parts = {t["number"]: _parts(t) for t in trials}
    by_shape: dict[str, list[float]] = {}
    for t in trials:
        if _compiled_in_worker(t, trials):
            by_shape.setdefault(_shape(t), []).append(parts[t["number"]]["compile"])
    compiled_here = {shape: statistics.median(values) for shape, values in by_shape.items()}
    fallback = statistics.median(compiled_here.values()) if compiled_here else 0.0
    warm = [parts[t["number"]]["outside"] for t in trials if t["worker_job"] > 1]
    warm_outside = statistics.median(warm) if warm else 0.0
    fresh = [parts[t["number"]]["outside"] - warm_outside for t in trials if t["worker_job"] == 1]
    fresh_worker = max(0.0, statistics.median(fresh)) if fresh else 0.0
    rows = []
    for t in trials:
        part = parts[t["number"]]
        startup = part["outside"] - (fresh_worker if t["worker_job"] == 1 else 0.0)
        rows.append(
            {
                "params": t["params"],
                "val_loss": t["val_loss"],
                "epoch_seconds": part["epochs"],
                "startup_seconds": max(0.0, startup),
                "compile_seconds": compiled_here.get(_shape(t), fallback),
                "error": "failed" if t["state"] == "FAIL" else None,
            }
        )
    space = search_distributions("phase1")
    return curve_table.from_dict(
        {
            "schema_version": curve_table.SCHEMA_VERSION,
            "fresh_worker_seconds": fresh_worker,
            "epochs": max(len(t["val_loss"]) for t in trials),
            "space": {name: repr(dist) for name, dist in space.items()},
            "trials": rows,
        },
        "timeline",
    )


def _parts(trial: dict[str, Any]) -> dict[str, Any]:
    """A trial's epochs (compile out), its compile, and its seconds outside both."""
    rows = [{"training_time_seconds": s} for s in trial["training_seconds"]]
    compile_seconds = epochs.first_epoch_excess(rows)
    cumulative = [0.0, *trial["training_seconds"]]
    durations = [b - a for a, b in zip(cumulative, cumulative[1:], strict=False)]
    durations[0] -= compile_seconds
    span = trial["told"] - trial["asked"]
    return {
        "epochs": durations,
        "compile": compile_seconds,
        "outside": span - cumulative[-1],
    }


def _shape(trial: dict[str, Any]) -> str:
    """Phase 1's shape key, as a recorded table has it (the learning rate is not in it)."""
    return curve_table.choices_shape(trial["params"])


def _compiled_in_worker(trial: dict[str, Any], trials: list[dict[str, Any]]) -> bool:
    """The trial was its worker's first of its shape (the trainer cache keeps all 9 shapes)."""
    return not any(
        other["worker_pid"] == trial["worker_pid"]
        and other["worker_job"] < trial["worker_job"]
        and _shape(other) == _shape(trial)
        for other in trials
    )


def replay_timeline(timeline: dict[str, Any], table: CurveTable) -> ReplayRun:
    """The default policy on 2 slots with the sweep's seed, trial count and TPE settings
    (which may predate today's phase-1 defaults)."""
    meta = timeline["meta"]
    default = POLICIES[DEFAULT_POLICY]
    policy = replace(default, sampler_args={**default.sampler_args, **meta["sampler"]})
    return replay(
        table,
        policy.make_sampler(int(meta["seed"])),
        policy.make_pruner(),
        search_distributions("phase1"),
        WORKERS,
        int(meta["n_trials"]),
        overheads=policy.overheads,
        study_name="timeline-check",
    )


def compare(timeline: dict[str, Any]) -> dict[str, Any]:
    """Real against replayed, per trial and for the study's end (module docstring)."""
    table = table_from_timeline(timeline)
    run = replay_timeline(timeline, table)
    real = {t["number"]: t for t in timeline["trials"]}
    trials = real.values()
    first_real = {t["number"] for t in trials if t["worker_job"] == 1}
    first_replayed = {min(s.number for s in run.spans if s.slot == slot) for slot in range(WORKERS)}
    rows = []
    for span in sorted(run.spans, key=lambda s: s.number):
        t = real.get(span.number)
        if t is None:
            continue
        real_start = 0.0 if t["number"] in first_real else t["asked"]
        replay_start = 0.0 if span.number in first_replayed else span.start
        rows.append(
            {
                "number": span.number,
                "same_params": _same_params(span.params, t["params"]),
                "state": [t["state"], span.state],
                "compiled": [_compiled_in_worker(t, list(trials)), span.compiled],
                "start": [round(real_start, 3), round(replay_start, 3)],
                "start_gap": round(replay_start - real_start, 3),
            }
        )
    real_end = max(t["told"] for t in trials)
    gaps = [abs(r["start_gap"]) for r in rows]
    return {
        "fresh_worker_seconds": round(table.fresh_worker_seconds, 3),
        "trials": rows,
        "end": [round(real_end, 3), round(run.wall_seconds, 3)],
        "end_gap_seconds": round(run.wall_seconds - real_end, 3),
        "end_gap_share": round((run.wall_seconds - real_end) / real_end, 4),
        "start_gap_median_abs": round(statistics.median(gaps), 3) if gaps else None,
        "start_gap_max_abs": round(max(gaps), 3) if gaps else None,
        "sweeper_gaps_seconds": _sweeper_gaps(list(trials)),
    }


def _same_params(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        abs(a[k] - b[k]) <= 1e-12 * abs(b[k]) if isinstance(b[k], float) else a[k] == b[k]
        for k in b
    )


def _pids(trials) -> set[int]:
    return {t["worker_pid"] for t in trials}


def _sweeper_gaps(trials: list[dict[str, Any]]) -> list[float]:
    """Per freed slot: from a trial's tell to the ask of the next trial its worker ran."""
    gaps = []
    for pid in _pids(trials):
        own = sorted((t for t in trials if t["worker_pid"] == pid), key=lambda t: t["worker_job"])
        gaps += [round(b["asked"] - a["told"], 3) for a, b in zip(own, own[1:], strict=False)]
    return sorted(gaps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    rec = sub.add_parser("record", help="run a small real 2-worker sweep, write its timeline")
    rec.add_argument("out", type=Path)
    rec.add_argument("--trials", type=int, default=10)
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    rec.add_argument("overrides", nargs="*", help="training overrides of the trials")
    cmp = sub.add_parser("compare", help="replay a recorded timeline and compare")
    cmp.add_argument("timeline", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.action == "record":
            return _record(args)
        print(json.dumps(compare(json.loads(args.timeline.read_text())), indent=1))
    except UserError as error:
        return report_user_error(error)
    return 0


def _record(args) -> int:
    import tempfile

    from benchmarks.sweep_timeline import record_sweep

    with tempfile.TemporaryDirectory(prefix="timeline_") as scratch:
        workdir = args.workdir or Path(scratch) / "run"
        timeline = record_sweep(workdir, args.trials, args.seed, list(args.overrides))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(timeline, indent=1) + "\n")
    print(f"written: {args.out} ({len(timeline['trials'])} trials)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
