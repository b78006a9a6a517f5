"""The replay simulator against one real 2-worker sweep's recorded timeline.

tests/bench/data/timeline_2workers.json was recorded once from a real phase-1 sweep on two
pool workers (`python -m benchmarks.timeline_check record ...`, its command in the file's
meta; its `sampler` entry was added when phase 1's TPE start-up became 5: the sweep ran with
Optuna's default 10, and the check replays what it ran); no sweep runs here. The replay gets
the sweep's own per-trial costs; what it must get right by itself is the schedule: the same
seed proposes the same params, the median pruner stops the same trials, the same trials
compile (first of their shape in their worker), and the slots start and end when the real
ones did."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from benchmarks import sweep_timeline, timeline_check
from benchmarks.replay import Overheads

TIMELINE = json.loads((Path(__file__).parent / "data" / "timeline_2workers.json").read_text())


@pytest.fixture(scope="module")
def checked():
    return timeline_check.compare(TIMELINE)


def test_the_replay_proposes_prunes_and_compiles_as_the_real_sweep(checked):
    rows = checked["trials"]
    assert len(rows) == TIMELINE["meta"]["n_trials"] == 12
    assert all(r["same_params"] for r in rows)  # TPE, constant liar, the same seed
    assert [r["state"][1] for r in rows] == [r["state"][0] for r in rows]
    assert {r["state"][0] for r in rows} == {"COMPLETE", "PRUNED"}  # the pruner had work
    # which trials compile: all but trial 6. At 31 s the two first trials ended 0.4 s apart
    # and were told out of order; the pool lends a freed slot the worker released last, so
    # the workers swapped slots, and trial 6 ran on the worker that had not compiled its
    # shape. The replay keeps a slot's worker, so it does not see the swap.
    mismatched = [r["number"] for r in rows if r["compiled"][0] != r["compiled"][1]]
    assert mismatched == [6]
    assert not all(r["compiled"][0] for r in rows)  # a shape was reused (trial 9)


def test_the_replayed_clock_follows_the_real_one(checked):
    real_end, replay_end = checked["end"]
    assert abs(checked["end_gap_share"]) < 0.01  # the study's end within 1 %
    # every start within 10 % of the study's span: the table holds one compile per shape
    # (the median of its workers'), while under load the first compiles in the two fresh
    # workers took 11-13 s and later ones 1-4 s, so later starts shift by up to 6 s
    for row in checked["trials"]:
        assert abs(row["start_gap"]) < 0.10 * real_end, row
    assert replay_end == pytest.approx(real_end, rel=0.01)


def _replay_with(overheads: Overheads):
    """The check's replay with other overheads: a planted bug in the clock."""
    table = timeline_check.table_from_timeline(TIMELINE)
    original = timeline_check.POLICIES[timeline_check.DEFAULT_POLICY]
    planted = dataclasses.replace(original, overheads=overheads)
    timeline_check.POLICIES[timeline_check.DEFAULT_POLICY] = planted
    try:
        return timeline_check.replay_timeline(TIMELINE, table)
    finally:
        timeline_check.POLICIES[timeline_check.DEFAULT_POLICY] = original


def test_the_check_fails_on_a_replay_that_compiles_per_trial_or_skips_the_worker_start():
    real = [timeline_check._compiled_in_worker(t, TIMELINE["trials"]) for t in TIMELINE["trials"]]
    per_trial = _replay_with(Overheads())  # the charge before the trainer cache
    assert [s.compiled for s in sorted(per_trial.spans, key=lambda s: s.number)] != real
    no_worker_start = _replay_with(Overheads(fresh_process_per_worker=False))
    real_end = max(t["told"] for t in TIMELINE["trials"])
    assert no_worker_start.wall_seconds < 0.95 * real_end


def test_the_job_line_gives_the_worker_and_its_job(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(
        "[2026-12-06 08:04:14,288][hydra_plugins.diffexp_pool_launcher.job_runner][INFO] - "
        "pool worker pid 3010 runs job #0, its job 2\n"
    )
    job = sweep_timeline._job_line(log)
    assert (job["pid"], job["job"], job["time"].microsecond) == (3010, 2, 288000)
    assert sweep_timeline._job_line(tmp_path / "none.log") is None
