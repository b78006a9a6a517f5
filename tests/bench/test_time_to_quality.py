"""Time to quality and the peer table on known timelines: the bar, each peer's time to it, the
best value at the common budget, idle slots and the figure with all four peers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import quality
from benchmarks.quality_plot import best_so_far_on_grid, median_band, plot_time_to_quality
from benchmarks.tuning_bench import PEERS, quality_figures

# (seconds since the command started, value) of completed trials
TIMELINES = {
    "sequential": [(10.0, 0.50), (20.0, 0.40), (30.0, 0.36)],
    "threads": [(8.0, 0.45), (16.0, 0.45), (24.0, 0.38)],
    "batched": [(15.0, 0.48), (15.0, 0.41), (30.0, 0.355)],
    "diffexp": [(6.0, 0.47), (12.0, 0.352), (18.0, 0.351)],
}
WALLS = {"sequential": 32.0, "threads": 26.0, "batched": 31.0, "diffexp": 20.0}


def _run(shift: float = 0.0) -> dict:
    run = {}
    for peer, timeline in TIMELINES.items():
        run[peer] = {
            "timeline": [(t + shift, v) for t, v in timeline],
            "wall_seconds": WALLS[peer] + shift,
            "complete": len(timeline),
            "pruned": 1,
            "failed": 0,
        }
    run["quality"] = quality.compare_peers({p: run[p] for p in PEERS}, "diffexp")
    return run


def test_best_so_far_keeps_only_improvements_in_time_order():
    curve = quality.best_so_far([(3.0, 0.4), (1.0, 0.5), (2.0, 0.6), (4.0, 0.4), (5.0, 0.3)])
    assert curve == [(1.0, 0.5), (3.0, 0.4), (5.0, 0.3)]


def test_the_bar_is_one_percent_above_the_best_any_peer_reached():
    assert quality.quality_bar([0.5, None, 0.4]) == pytest.approx(0.404)
    assert math.isnan(quality.quality_bar([None]))


def test_each_peer_is_timed_to_the_bar_and_judged_at_the_common_budget():
    q = _run()["quality"]
    assert q["bar"] == pytest.approx(0.351 * 1.01)  # 0.35451
    assert q["time_to_quality_seconds"] == {
        "sequential": None,  # 0.36 never gets under the bar
        "threads": None,
        "batched": None,  # 0.355 is just over it
        "diffexp": 12.0,
    }
    assert q["budget_seconds"] == 20.0  # the shortest peer's wall time
    assert q["best_at_budget"] == {
        "sequential": 0.40,
        "threads": 0.45,
        "batched": 0.41,
        "diffexp": 0.351,
    }
    assert q["speedup_vs_best_peer"] == math.inf


def test_a_looser_tolerance_moves_the_bar_and_the_times():
    """compare_peers' tolerance sets the bar (it once kept 1% whatever was asked)."""
    runs = {p: _run()[p] for p in PEERS}
    loose = quality.compare_peers(runs, "diffexp", tolerance=0.03)
    assert loose["tolerance"] == 0.03
    assert loose["bar"] == pytest.approx(0.351 * 1.03)  # 0.36153
    assert loose["time_to_quality_seconds"] == {
        "sequential": 30.0,
        "threads": None,  # 0.38 is over even this bar
        "batched": 30.0,
        "diffexp": 12.0,
    }
    assert loose["speedup_vs_best_peer"] == pytest.approx(30.0 / 12.0)


def test_speedup_is_against_the_fastest_other_peer_and_zero_when_we_never_get_there():
    times = {"sequential": 40.0, "threads": 20.0, "batched": None, "diffexp": 10.0}
    assert quality.speedup_vs_best_peer(times, "diffexp") == 2.0
    assert quality.speedup_vs_best_peer({**times, "diffexp": None}, "diffexp") == 0.0
    assert quality.time_to_quality([(5.0, 0.5), (9.0, 0.3)], 0.4) == 9.0
    assert quality.best_at([(5.0, 0.5), (9.0, 0.3)], 4.0) is None


def test_idle_share_counts_slot_time_without_a_trial():
    # two slots over 10 s; trials busy 10 + 5 s of the 20 slot-seconds
    assert quality.idle_share([(0.0, 10.0), (0.0, 5.0)], 2) == pytest.approx(0.25)
    assert quality.idle_share([], 2) == 0.0


def test_peer_table_has_every_peer_and_medians_over_seeds(tmp_path):
    runs = [_run(), _run(shift=2.0), _run(shift=4.0)]
    figures = quality_figures(runs)
    for peer in PEERS:
        assert figures[f"{peer}_trials_finished"]["median"] == len(TIMELINES[peer]) + 1
        assert f"{peer}_best_at_budget" in figures
    assert figures["diffexp_time_to_quality_seconds"]["median"] == 14.0
    assert figures["diffexp_reached_quality"]["median"] == 3
    assert figures["batched_reached_quality"]["median"] == 0
    assert "batched_time_to_quality_seconds" not in figures
    assert figures["budget_seconds"]["median"] == 22.0

    path = plot_time_to_quality(
        runs, PEERS, [r["quality"]["bar"] for r in runs], tmp_path / "q.png"
    )
    assert path.exists() and path.stat().st_size > 10_000


def test_best_so_far_on_a_grid_holds_the_best_and_is_inf_before_the_first_trial():
    grid = np.array([0.0, 1.0, 2.5, 3.0, 6.0])
    curve = best_so_far_on_grid([(1.0, 0.5), (3.0, 0.4), (2.0, 0.6)], grid)
    assert curve.tolist() == [np.inf, 0.5, 0.5, 0.4, 0.4]


def test_the_band_is_the_median_and_quartiles_over_seeds():
    seeds = [[(1.0, 0.5)], [(1.0, 0.3)], [(1.0, 0.4)], [(4.0, 0.1)]]
    _, median, q25, q75 = median_band(seeds, np.array([0.5, 2.0, 5.0]))
    assert median.tolist() == [np.inf, 0.4, 0.3]  # one seed without a trial counts as worst
    assert q25.tolist() == [np.inf, 0.3, 0.1]
    assert q75.tolist() == [np.inf, 0.5, 0.4]


def test_the_report_has_one_peer_row_with_medians_and_ranges():
    from benchmarks import report
    from benchmarks.tuning_bench import summarise

    runs = [_run(), _run(shift=2.0), _run(shift=4.0)]
    for run in runs:
        for peer in PEERS:
            run[peer]["best_value"] = min(v for _, v in run[peer]["timeline"])
            run[peer]["idle_slot_fraction"] = 0.1
        run["speedup_diffexp_vs_sequential"] = run["speedup_diffexp_vs_batched"] = 1.5
        run["diffexp"]["trial_outside_training_share"] = None
    results = {
        "sections": {
            "tuning": {
                "figures": summarise(runs),
                "details": {"runs": runs, "peers": list(PEERS), "peer_samplers": "shipped"},
            }
        }
    }
    lines = report.peer_table(results)
    assert any("own TPE defaults (10 random start-up trials)" in line for line in lines)
    rows = [line for line in lines if line.startswith("| ") and "peer |" not in line]
    assert [row.split(" | ")[0] for row in rows] == [f"| {p}" for p in PEERS]
    assert "| diffexp | 14 (12–16) | 3 of 3 | 0.3510 | 4 | 0.10 | 22 (20–24) |" in lines
    assert rows[2].startswith("| batched | — | 0 of 3 |")
