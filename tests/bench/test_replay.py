"""The replay simulator on hand-made tables whose answers are known exactly: the clock, the
slots (asynchronous and synchronous), pruning, the objective and the nearest-curve mapping."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from benchmarks import curve_table
from benchmarks.replay import Overheads, replay
from diffexp.data.errors import DataError
from diffexp.errors import ConfigError
from tests.bench.replay_tables import FRESH, table
from tests.bench.replay_tables import curve as _curve

SPEED = {"x": CategoricalDistribution(["fast", "slow"])}
LR_SPACE = {"lr": "FloatDistribution(high=0.01, log=True, low=1e-05, step=None)"}


def _table(curves: list[dict], epochs: int = 3) -> curve_table.CurveTable:
    return table(curves, epochs, LR_SPACE)


FAST_SLOW = _table(
    [
        _curve({"x": "fast"}, (1.0, 1.0, 1.0), (0.5, 0.4, 0.3)),
        _curve({"x": "slow"}, (3.0, 3.0, 3.0), (0.6, 0.2, 0.25)),
    ]
)


class PruneTrialAt(optuna.pruners.BasePruner):
    """Prunes one trial number at one epoch: a pruning decision known in advance."""

    def __init__(self, number: int, step: int) -> None:
        self.number, self.step = number, step

    def prune(self, study, trial) -> bool:
        return trial.number == self.number and trial.last_step == self.step


FAST_ONLY = _table([_curve({"x": "fast"})])


def _run(workers, n_trials, pruner=None, synchronous=False, overheads=None, seed=0, table=None):
    return replay(
        table or FAST_SLOW,
        optuna.samplers.RandomSampler(seed=seed),
        pruner or optuna.pruners.NopPruner(),
        SPEED if table is None else {"x": CategoricalDistribution(["fast"])},
        workers,
        n_trials,
        synchronous=synchronous,
        overheads=overheads or Overheads(),
    )


def _duration(span) -> float:
    return 2.0 + 0.5 + (3.0 if span.value == 0.3 else 9.0)


def test_one_worker_finishes_at_its_start_up_plus_the_sum_of_trial_times():
    run = _run(workers=1, n_trials=5)
    assert [s.state for s in run.spans] == ["COMPLETE"] * 5
    assert run.wall_seconds == pytest.approx(FRESH + sum(_duration(s) for s in run.spans))
    for before, after in zip(run.spans, run.spans[1:], strict=False):
        assert after.start == pytest.approx(before.end)  # no gap between trials
    assert {s.value for s in run.spans} <= {0.3, 0.2}  # the objective: each curve's best loss


def test_an_epoch_time_factor_slows_only_the_epochs():
    """Trials sharing one process (the threads recipe): each epoch takes factor x the recorded
    one; the start-up and compile stay as recorded."""
    run = _run(workers=1, n_trials=5, overheads=Overheads(epoch_time_factor=1.5))
    assert run.wall_seconds == pytest.approx(
        FRESH + sum(2.0 + 0.5 + 1.5 * (_duration(s) - 2.5) for s in run.spans)
    )


def test_two_async_workers_start_the_next_trial_the_moment_a_slot_frees():
    run = _run(workers=2, n_trials=8, seed=0)
    assert {s.slot for s in run.spans} == {0, 1}
    assert [s.start for s in run.spans[:2]] == [FRESH, FRESH]  # both warm workers start at once
    for slot in (0, 1):
        spans = [s for s in run.spans if s.slot == slot]
        assert spans[0].start == FRESH
        for before, after in zip(spans, spans[1:], strict=False):
            assert after.start == pytest.approx(before.end)
        assert spans[-1].end == pytest.approx(FRESH + sum(_duration(s) for s in spans))
    # with both speeds present, the slots end at different times: no batch waits
    assert len({round(s.end, 6) for s in run.spans}) > 2


def test_synchronous_batches_wait_for_the_slowest_trial():
    run = _run(workers=2, n_trials=6, synchronous=True, overheads=Overheads(True, False), seed=0)
    batches = [run.spans[i : i + 2] for i in range(0, 6, 2)]
    assert batches[0][0].end != batches[0][1].end  # a fast and a slow trial: one must wait
    assert batches[0][0].start == 0.0
    for before, after in zip(batches, batches[1:], strict=False):
        slowest = max(s.end for s in before)
        assert [s.start for s in after] == pytest.approx([slowest, slowest])
    for span in run.spans:  # a process per trial: each pays the fresh start-up
        assert span.end - span.start == pytest.approx(FRESH + _duration(span))


def test_a_pruned_trial_stops_at_its_pruning_epoch_and_frees_its_slot():
    run = _run(workers=1, n_trials=3, pruner=PruneTrialAt(number=1, step=2), table=FAST_ONLY)
    pruned = run.spans[1]
    assert pruned.state == "PRUNED" and pruned.value is None and pruned.epochs_run == 2
    assert pruned.end - pruned.start == pytest.approx(2.0 + 0.5 + 2 * 1.0)  # 2 of 3 epochs
    assert run.spans[2].start == pytest.approx(pruned.end)
    assert run.wall_seconds == pytest.approx(FRESH + 5.5 + 4.5 + 5.5)
    assert [t for t, _ in run.timeline] == [run.spans[0].end, run.spans[2].end]


def test_two_async_workers_with_a_pruned_trial_on_known_times():
    run = _run(workers=2, n_trials=4, pruner=PruneTrialAt(number=0, step=1), table=FAST_ONLY)
    # trial 0 (slot 0) is pruned after epoch 1 at 10 + 3.5; slot 0 runs trial 2 from then
    assert [(s.slot, s.start, s.end, s.state) for s in run.spans] == [
        (0, FRESH, FRESH + 3.5, "PRUNED"),
        (1, FRESH, FRESH + 5.5, "COMPLETE"),
        (0, FRESH + 3.5, FRESH + 9.0, "COMPLETE"),
        (1, FRESH + 5.5, FRESH + 11.0, "COMPLETE"),
    ]


def test_a_failed_or_diverged_curve_fails_its_trial():
    table = _table([_curve({"x": "fast"}, (1.0, 1.0), (0.5, math.nan), error="DivergedError: nan")])
    run = replay(
        table,
        optuna.samplers.RandomSampler(seed=0),
        optuna.pruners.NopPruner(),
        {"x": CategoricalDistribution(["fast"])},
        workers=1,
        n_trials=2,
    )
    assert [s.state for s in run.spans] == ["FAIL", "FAIL"]
    assert run.timeline == []


def test_a_proposal_maps_to_the_nearest_recorded_curve_with_the_same_choices():
    table = _table(
        [
            _curve({"lr": 1e-3, "w": 32}, losses=(0.1,)),
            _curve({"lr": 1e-2, "w": 32}, losses=(0.2,)),
            _curve({"lr": 1.05e-3, "w": 64}, losses=(0.3,)),
        ]
    )
    assert table.nearest({"lr": 1.2e-3, "w": 32}).val_loss == (0.1,)  # same choice, nearest lr
    assert table.nearest({"lr": 6e-3, "w": 32}).val_loss == (0.2,)  # nearer in log space
    assert table.nearest({"lr": 1e-2, "w": 64}).val_loss == (0.3,)  # never another choice
    assert table.nearest({"lr": 1e-2, "w": 96}).val_loss == (0.3,)  # unrecorded: nearest w=64


def test_a_table_of_another_schema_is_refused_with_one_line(tmp_path):
    path = tmp_path / "curves.json"
    path.write_text('{"schema_version": 99, "trials": []}')
    with pytest.raises(DataError, match="schema_version 99.*record_curves"):
        curve_table.load(path)


def test_the_lr_is_compared_on_a_log_scale():
    table = _table([_curve({"lr": 1e-5}, losses=(0.1,)), _curve({"lr": 5e-3}, losses=(0.2,))])
    # 1e-3 is 1e-5 + 0.001 but 5e-3 / 5: nearer 5e-3 in log space, nearer 1e-5 on a line
    assert table.nearest({"lr": 1e-3}).val_loss == (0.2,)


def test_sobol_configurations_cover_every_choice_and_stay_in_the_space():
    from benchmarks.record_curves import search_distributions, sobol_configurations

    space = search_distributions("phase1")
    configs = sobol_configurations(space, 32, seed=0)
    assert len(configs) == 32
    assert {c["model.hidden_dim"] for c in configs} == {32, 64, 96}
    assert {c["model.t_emb_dim"] for c in configs} == {16, 32, 64}
    lrs = sorted(c["optimizer.lr"] for c in configs)
    assert 1e-5 <= lrs[0] < 3e-5 and 4e-3 < lrs[-1] <= 1e-2  # log-uniform reaches both ends
    assert sum(lr < 3.2e-4 for lr in lrs) == 16  # half below the log midpoint (Sobol balance)


def test_a_search_space_outside_conf_is_read_from_its_path():
    """The replay's harder space is a file of benchmarks/data, not a `search=` option."""
    from benchmarks.record_curves import search_distributions

    space = search_distributions("benchmarks/data/search_wide.yaml")
    assert set(space) == {
        "optimizer.lr",
        "model.hidden_dim",
        "model.t_emb_dim",
        "model.n_layers",
        "schedule",
    }
    assert space["schedule"].choices == ("constant", "cosine", "cyclical", "cosine_restarts")
    with pytest.raises(ConfigError, match="no .*nosuch.yaml"):
        search_distributions("benchmarks/data/nosuch.yaml")


def test_speed_up_targets_and_the_plan_grammar():
    from benchmarks import replay_bench
    from diffexp.errors import ConfigError

    assert replay_bench.ratio_of_medians([30.0, 40.0, math.inf], [10.0, 20.0, 20.0]) == 2.0
    assert replay_bench.ratio_of_medians([math.inf] * 3, [5.0] * 3) == math.inf
    low, high = replay_bench.bootstrap_interval([30.0, 40.0, 50.0], [10.0, 10.0, 10.0])
    assert 3.0 <= low <= 4.0 <= high <= 5.0
    # a peer that mostly never gets there: the interval reaches inf, never nan
    assert replay_bench.bootstrap_interval([math.inf, math.inf, 9.0], [3.0] * 3)[1] == math.inf
    # both mostly never: the few resamples with a defined ratio give no interval (was [0, 0],
    # which listed the peer as faster than the default beyond the noise)
    rarely = replay_bench.bootstrap_interval([math.inf] * 6 + [1.0] * 4, [math.inf] * 10)
    assert all(math.isnan(x) for x in rarely)
    summary_never = {
        1: {"sequential_random": {"default_speedup": math.nan, "default_speedup_95": rarely}}
    }
    assert replay_bench.beats_default(summary_never) == []
    summary = {
        2: {
            "sequential_random": {"default_speedup": 2.0},
            "threads_recipe": {"default_speedup": 1.2},
        },
        64: {"official_batches": {"default_speedup": 3.5}},
    }
    verdicts = replay_bench.targets(summary)
    assert verdicts["vs_best_peer_at_2_workers"]["against"] == "threads_recipe"
    assert verdicts["vs_best_peer_at_2_workers"]["pass"] is False
    assert verdicts["vs_official_batches_at_64_workers"]["pass"] is True
    # a peer both it and the default never reach (nan) is not the best peer; one it reaches
    # and the default does not (0x) is
    mixed = {
        2: {
            "threads_recipe": {"default_speedup": math.nan},
            "sequential_random": {"default_speedup": 0.0},
        }
    }
    assert replay_bench.targets(mixed)["vs_best_peer_at_2_workers"]["against"] == (
        "sequential_random"
    )
    step = replay_bench.parse_plan("1,2:all:50:2")
    assert step.workers == (1, 2) and step.seeds == 50 and "diffexp_median" in step.policies
    with pytest.raises(ConfigError, match="WORKERS:POLICIES"):
        replay_bench.parse_plan("1,2:all")
    with pytest.raises(ConfigError, match="unknown"):
        replay_bench.parse_plan("2:asha:5:1")


def test_a_replay_is_repeatable_under_hyperband():
    """Hyperband's brackets hash the study name: a random name made two replays differ."""
    from benchmarks import replay_bench
    from benchmarks.replay_policies import POLICIES

    table = _table([_curve({"x": "fast"}), _curve({"x": "slow"}, losses=(0.6, 0.35, 0.32))])
    runs = [
        replay_bench.replay_policy(table, POLICIES["diffexp_hyperband"], SPEED, 2, 80, seed=1)
        for _ in range(2)
    ]
    assert [(s.state, s.epochs_run) for s in runs[0].spans] == [
        (s.state, s.epochs_run) for s in runs[1].spans
    ]


def test_no_policy_reaches_the_bar_before_the_fastest_possible_time():
    """The bound: a fresh worker (10 s) whose first trial is the quickest configuration that
    completes within the bar: start-up 2 s, compile 0.5 s and its epochs."""
    from benchmarks import replay_bench
    from benchmarks.quality import time_to_quality

    # only "slow" (best 0.2) meets a 1 % bar: 10 + 2 + 0.5 + 9
    assert replay_bench.fastest_possible_seconds(FAST_SLOW, 0.202) == 21.5
    # both meet 0.3; "fast" completes first: 10 + 2 + 0.5 + 3
    assert replay_bench.fastest_possible_seconds(FAST_SLOW, 0.3) == 15.5
    assert replay_bench.fastest_possible_seconds(FAST_SLOW, 0.1) == math.inf
    diverged = _table([_curve({"x": "fast"}, losses=(0.1, math.nan, 0.3))])
    assert replay_bench.fastest_possible_seconds(diverged, 0.3) == math.inf  # it fails
    for sampler in (optuna.samplers.RandomSampler(seed=3), optuna.samplers.TPESampler(seed=3)):
        run = replay(FAST_SLOW, sampler, optuna.pruners.NopPruner(), SPEED, 2, 6)
        assert time_to_quality(run.timeline, 0.3) >= 15.5


def test_a_target_no_policy_can_meet_says_so():
    from benchmarks import replay_bench

    summary = {
        2: {"threads_recipe": {"default_speedup": 1.2, "median_time_to_quality": 30.0}},
        64: {"official_batches": {"default_speedup": 1.0, "median_time_to_quality": 15.0}},
    }
    verdicts = replay_bench.targets(summary, fastest=12.0)
    two, many = verdicts["vs_best_peer_at_2_workers"], verdicts["vs_official_batches_at_64_workers"]
    assert (two["ceiling"], two["reachable"]) == (2.5, True)
    assert (many["ceiling"], many["reachable"]) == (1.25, False)
    grid = {"bar": 0.3, "fastest_possible_seconds": 12.0, "by_workers": {}}
    meta = {"table": "t", "n_curves": 2, "profile": "p", "plan": ["x"]}
    text = replay_bench.markdown(meta, grid, {}, verdicts)
    assert "No policy can reach the bar before 12.0 s" in text
    assert "1.25x, so no policy can meet it on this table" in text
    assert "most any policy could reach is 2.50x\n" in text


def test_a_plan_leaves_out_or_refuses_a_policy_whose_sampler_cannot_run(monkeypatch):
    from benchmarks import replay_bench
    from diffexp.tuning import sampler_dependencies

    monkeypatch.setattr(sampler_dependencies.importlib.util, "find_spec", lambda name: None)
    step = replay_bench.parse_plan("2:all:5:1")
    assert "diffexp_gp_median" not in step.policies and "diffexp_median" in step.policies
    with pytest.raises(ConfigError, match="diffexp_gp_median needs torch, scipy.*install-gp"):
        replay_bench.parse_plan("2:diffexp_median,diffexp_gp_median:5:1")
    monkeypatch.setattr(sampler_dependencies.importlib.util, "find_spec", lambda name: object())
    assert "diffexp_gp_median" in replay_bench.parse_plan("2:all:5:1").policies


def test_random_search_with_successive_halving_is_diffexps_nearest_setting_to_asha():
    """`diffexp_random_sha` is diffexp's nearest setting to Syne Tune's ASHA: random
    proposals, stopped at rungs; in a replay it stops the slow, worse curve."""
    from benchmarks import replay_bench
    from benchmarks.replay_policies import POLICIES

    policy = POLICIES["diffexp_random_sha"]
    assert isinstance(policy.make_sampler(0), optuna.samplers.RandomSampler)
    assert isinstance(policy.make_pruner(), optuna.pruners.SuccessiveHalvingPruner)
    table = _table([_curve({"x": "fast"}), _curve({"x": "slow"}, (3.0, 3.0, 3.0), (0.9, 0.9, 0.9))])
    run = replay_bench.replay_policy(table, policy, SPEED, 1, 12, seed=0)
    states = {(s.params["x"], s.state) for s in run.spans}
    assert ("slow", "PRUNED") in states and ("fast", "COMPLETE") in states
